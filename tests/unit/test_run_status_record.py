"""The run-status record read field by field equals the record built from the event's plain view.

`processors.records.run_status_dict` reads an event's fields one by one and
writes its detail and trace as JSON without a plain copy first. The record it
replaced was built from `as_dict(event)` (below, `reference_record`, as it
stood). For every run-status event kind, drawn by hypothesis with odd text,
absent optional fields, and traces and details holding nested engine values,
instants, tuples and floats, the two records are equal, their Avro bytes are
the same, and the automation-runs key given beside a run start or end is the
one its bytes name.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.commands import Timer
from engine.events import (
    DerivedEventStopped,
    EntryDeclined,
    ExitChecked,
    RunSkipped,
    RunStarted,
    RunStatusChanged,
    StepRecorded,
)
from engine.values import as_dict
from processors.records import automation_runs_key, keyed_output_records, output_records, run_status_dict
from schemas.codec import encode


def _reference_json(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True, default=str) if value else None


def reference_record(event, school: str, user: str) -> dict[str, Any]:
    """The record as built before: from `as_dict(event)`, its detail and trace then as JSON."""
    data = as_dict(event)
    record: dict[str, Any] = {
        "kind": event.type,
        "school": school,
        "user": user,
        "automation_id": data.get("automation_id", ""),
        "at": event.at.astimezone(timezone.utc),
    }
    for name in ("automation_version", "run_id", "status", "step_id", "step_type", "outcome", "trigger_id",
                 "trigger_event_id", "exit_id", "error", "reason", "replay_of", "event_id", "matched"):
        if data.get(name) is not None:
            record[name] = data[name]
    if isinstance(data.get("detail"), dict):
        record["detail"] = _reference_json(data["detail"])
    record["trace_json"] = _reference_json(data.get("trace"))
    return record


text = st.text(max_size=12)
maybe_text = st.none() | text
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
timers = st.builds(Timer, id=text, school=text, user=text, kind=st.sampled_from(["wait", "delay"]), due_at=instants,
                   automation_id=maybe_text, run_id=maybe_text, step_id=maybe_text,
                   days=st.none() | st.integers(0, 400))
leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | text | instants
          | timers)
nested = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
details = st.dictionaries(text, nested, max_size=4)
traces = st.lists(details, max_size=3)
statuses = st.sampled_from(["pending", "executing", "fulfilled", "completed_via_exit", "failed", "failed_silently",
                            "cancelled"])

events = st.one_of(
    st.builds(RunStarted, run_id=text, school=text, user=text, automation_id=text,
              automation_version=st.integers(0, 2**40), mode=st.sampled_from(["synchronous", "asynchronous"]),
              trigger_id=maybe_text, trigger_event_id=maybe_text, replay_of=maybe_text,
              cause=st.tuples(text), at=instants, trace=traces),
    st.builds(RunSkipped, school=text, user=text, automation_id=text, trigger_id=maybe_text, trigger_event_id=text,
              reason=text, at=instants),
    st.builds(EntryDeclined, school=text, user=text, automation_id=text, trigger_event_id=text, reason=text,
              at=instants, trace=traces),
    st.builds(StepRecorded, run_id=text, automation_id=text, step_id=text, step_type=text, outcome=text,
              at=instants, detail=details, followers=st.tuples(text)),
    st.builds(ExitChecked, run_id=text, automation_id=text, exit_id=maybe_text, event_id=text,
              matched=st.booleans(), at=instants, trace=details),
    st.builds(RunStatusChanged, run_id=text, school=text, user=text, automation_id=text, status=statuses,
              at=instants, reason=maybe_text, error=maybe_text, exit_id=maybe_text, step_id=maybe_text),
    st.builds(DerivedEventStopped, school=text, user=text, event_id=text, event_type=text, cause=st.tuples(text),
              at=instants),
)


@given(event=events, school=text, user=text)
def test_the_record_read_field_by_field_is_the_one_built_from_the_plain_view(event, school: str, user: str) -> None:
    record = run_status_dict(event, school, user)

    assert record == reference_record(event, school, user)
    assert encode("run_status", record) == encode("run_status", reference_record(event, school, user))


@given(event=events, school=text, user=text)
def test_a_run_start_or_end_carries_the_key_its_bytes_name(event, school: str, user: str) -> None:
    keyed = keyed_output_records([event], school, user)

    assert [(audience, value) for audience, value, _ in keyed] == output_records([event], school, user)
    for audience, value, key in keyed:
        assert key == (automation_runs_key(value) if audience == "automation_runs" else None)
