"""The hot path's shortcuts give exactly what the general code gives.

Engine values read back from their JSON as they were; a condition's trace
entry equals its model_dump; adding days in UTC equals the
wall-clock arithmetic every other zone takes.
"""

from __future__ import annotations

import json
import typing
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import events as e
from engine.commands import Timer
from engine.conditions import _CHECKS, _as_entry
from engine.local_time import add_local_days, load_zone, to_instant, wall_clock
from engine.runs import FinishedRun, Run
from engine.school_events import SchoolEvent
from engine.values import as_dict, as_json, from_json, replace

AT = datetime(2027, 3, 1, 9, 30, tzinfo=timezone.utc)
TIMER = Timer(id="wait:run-1:w", school="s", user="u", kind="wait", due_at=AT, run_id="run-1", step_id="w")
ACTION = e.ActionCommand(
    type="add_tag", school="s", user="u", idempotency_key="run-1:t", run_id="run-1",
    automation_id="a", step_id="t", at=AT, tag="vip",
)
EVENT = SchoolEvent(id="e1", type="user.tag_added", school="s", user="u", occurred_at=AT, data={"tag": "vip"})

EXAMPLES = [
    (e.RunStarted, dict(run_id="run-1", school="s", user="u", automation_id="a", automation_version=3,
                        mode="asynchronous", trigger_id="t0", trigger_event_id="e1", cause=("e1",), at=AT,
                        trace=[{"trigger": "t0", "fired": True, "conditions": []}])),
    (e.RunStarted, dict(run_id="run-2", school="s", user="u", automation_id="a", automation_version=0,
                        mode="synchronous", trigger_id=None, trigger_event_id=None, replay_of="run-1", at=AT)),
    (e.RunSkipped, dict(school="s", user="u", automation_id="a", trigger_id="t0", trigger_event_id="e1",
                        reason="too soon", at=AT)),
    (e.EntryDeclined, dict(school="s", user="u", automation_id="a", trigger_event_id="e1", reason="no", at=AT)),
    (e.StepRecorded, dict(run_id="run-1", automation_id="a", step_id="w", step_type="wait_duration",
                          outcome="waiting", at=AT, detail={"until": AT.isoformat()}, followers=("b", "c"))),
    (e.StepRecorded, dict(run_id="run-1", automation_id="a", step_id="m", step_type="send_email", outcome="done", at=AT)),
    (e.ExitChecked, dict(run_id="run-1", automation_id="a", exit_id="x", event_id="e1", matched=True, at=AT,
                         trace={"match": "all", "result": True, "conditions": []})),
    (e.ActionCommand, dict(type="set_field", school="s", user="u", idempotency_key="run-1:f", run_id="run-1",
                           automation_id="a", step_id="f", at=AT, field="level", value=2.5)),
    (e.ActionEmitted, dict(run_id="run-1", step_id="t", idempotency_key="run-1:t", action=ACTION)),
    (e.TimerScheduled, dict(timer=TIMER)),
    (e.TimerCancelled, dict(timer_id=TIMER.id, due_at=AT, school="s", user="u")),
    (e.TimerFired, dict(timer=TIMER, at=AT, lateness_seconds=0.25)),
    (e.RunStatusChanged, dict(run_id="run-1", school="s", user="u", automation_id="a", status="completed_via_exit",
                              at=AT, reason="exit x fired", exit_id="x")),
    (e.DerivedEventStopped, dict(school="s", user="u", event_id="e9", event_type="user.tag_added",
                                 cause=("a", "b"), at=AT)),
    (e.LearnerUpdated, dict(event=EVENT)),
    (Timer, dict(id="inactive:s:u:7", school="s", user="u", kind="inactivity", due_at=AT, days=7)),
    (Run, dict(id="run-1", automation_id="a", automation_version=1, status="executing", started_at=AT, trigger_id="t0")),
    (FinishedRun, dict(id="run-1", automation_id="a", status="fulfilled", started_at=AT, ended_at=AT, reason="done")),
]


@pytest.mark.parametrize("cls, values", EXAMPLES, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(EXAMPLES)])
def test_an_engine_value_reads_back_from_its_json_as_it_was(cls, values):
    value = cls(**values)
    assert from_json(cls, json.loads(json.dumps(as_json(value)))) == value
    names = list(as_dict(value))
    assert names == (["type"] if "type" not in cls.__struct_fields__ and hasattr(cls, "type") else []) + list(cls.__struct_fields__)


def test_a_mutable_default_is_never_shared():
    first = e.EntryDeclined(school="s", user="u", automation_id="a", trigger_event_id="e1", reason="no", at=AT)
    second = e.EntryDeclined(school="s", user="u", automation_id="a", trigger_event_id="e1", reason="no", at=AT)
    first.trace.append({"tried": 1})
    assert second.trace == []


def test_a_missing_or_unknown_field_is_a_programming_error():
    with pytest.raises(TypeError, match="Missing required argument 'at'"):
        e.TimerFired(timer=TIMER, lateness_seconds=0.0)
    with pytest.raises(TypeError, match="Unexpected keyword argument 'colour'"):
        e.TimerScheduled(timer=TIMER, colour="red")
    with pytest.raises(TypeError):
        e.TimerScheduled(TIMER)  # keywords only


def test_an_engine_value_is_immutable_and_replace_leaves_the_original():
    run = Run(id="run-1", automation_id="a", automation_version=1, status="executing", started_at=AT)
    with pytest.raises(AttributeError):
        run.status = "pending"  # type: ignore[misc]
    copied = replace(run, status="pending", position="w")
    assert copied == Run(id="run-1", automation_id="a", automation_version=1, status="pending", started_at=AT, position="w")
    assert run.status == "executing" and run.position is None


_SAMPLES = {str: "Premium", float: 2.5, int: 3, bool: True, datetime: AT}


def _sample(annotation):
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)[0]
    options = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    first = options[0]
    if typing.get_origin(first) is typing.Annotated:  # a strict number or bool
        first = typing.get_args(first)[0]
    return _SAMPLES[first]


@pytest.mark.parametrize("cls", list(_CHECKS), ids=[c.__name__ for c in _CHECKS])
def test_a_condition_trace_entry_is_its_dump(cls):
    full = cls(**{name: _sample(f.annotation) for name, f in cls.model_fields.items()})
    bare = cls(type=_sample(cls.model_fields["type"].annotation))
    for condition in (full, bare):
        assert _as_entry(condition) == condition.model_dump(exclude_none=True)
    assert len(_as_entry(full)) == len(cls.model_fields)


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()),
    st.integers(min_value=-400, max_value=400),
)
def test_adding_days_in_utc_is_the_wall_clock_arithmetic(instant, days):
    utc = load_zone("UTC")
    expected = to_instant(wall_clock(instant, utc) + timedelta(days=days), utc)
    added = add_local_days(instant, days, utc)
    assert added == expected and added.tzinfo is expected.tzinfo and added.fold == expected.fold
