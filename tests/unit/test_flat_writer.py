"""The compiled writer of flat records (`schemas.flat_writer`) writes fastavro's bytes, or leaves them to it.

Every flat kind's records, drawn by hypothesis from the shipped schema (the
run-status, action and timer records a worker writes), come out of the compiled
writer byte for byte as from fastavro's `schemaless_writer`. Records that are not
plainly of the schema (a value of a type fastavro would convert or refuse, a
naive or non-UTC datetime, an unknown or missing field, text that is not valid
Unicode, a long past 64 bits) are either written alike or left to fastavro
(None); `codec.encode` then gives fastavro's bytes, or its EncodeError, as before.
The writer must also take the records a worker writes, or it would save nothing.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.codec import EncodeError
from schemas.flat_writer import FlatWriter
from tests.unit.test_schemas_roundtrip import records_of

SHIPPED = codec.load_shipped()
FLAT = ["run_status", "action", "timer"]


def fastavro_body(kind: str, record: Any) -> bytes | str:
    stream = io.BytesIO()
    try:
        fastavro.schemaless_writer(stream, SHIPPED.latest(kind).schema, record, strict_allow_default=True)
    except Exception:
        return "refused"
    return stream.getvalue()


def _compiled(kind: str) -> FlatWriter:
    return FlatWriter(json.loads(SHIPPED.latest(kind).source))


WRITERS = {kind: _compiled(kind) for kind in FLAT}


def test_the_worker_s_output_kinds_have_compiled_writers_and_nested_kinds_do_not() -> None:
    assert set(WRITERS) == set(FLAT)
    for kind in ("school_event", "receipt", "definition"):
        with pytest.raises(ValueError):
            _compiled(kind)


def test_a_union_where_fastavro_would_take_an_int_for_a_double_is_not_compiled() -> None:
    with pytest.raises(ValueError):
        FlatWriter({"type": "record", "name": "R", "fields": [{"name": "v", "type": ["null", "double", "long"]}]})


_zones = st.sampled_from([timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
_instants = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_zones),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=_zones),
    st.datetimes(max_value=datetime(2100, 1, 1)),  # naive
)
_odd = st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(), st.text(max_size=5),
                 st.sampled_from(["\ud800", "é", "x" * 70, "pending", "send_email", "run_started", "wait"]),
                 st.binary(max_size=3), _instants, st.lists(st.integers(), max_size=1))


@st.composite
def unusual_records(draw: st.DrawFn, kind: str) -> Any:
    """A record of the schema with some values swapped for odd ones, fields dropped or added."""
    record = dict(draw(records_of(SHIPPED.latest(kind).schema)))
    for name in list(record):
        change = draw(st.integers(0, 9))
        if change == 0:
            record[name] = draw(_odd)
        elif change == 1:
            del record[name]
        elif change == 2 and isinstance(record[name], datetime):
            record[name] = draw(_instants)
    if draw(st.integers(0, 9)) == 0:
        record[draw(st.sampled_from(["unknown", "Kind", 1]))] = "x"
    return draw(st.sampled_from([record] * 9 + [list(record.items())]))


@pytest.mark.parametrize("kind", FLAT)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_of_the_schema_is_written_as_fastavro_writes_it(kind: str, data: st.DataObject) -> None:
    record = data.draw(records_of(SHIPPED.latest(kind).schema))

    assert WRITERS[kind].write(record) == fastavro_body(kind, record)


@pytest.mark.parametrize("kind", FLAT)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_unusual_record_is_written_alike_or_left_to_fastavro(kind: str, data: st.DataObject) -> None:
    record = data.draw(unusual_records(kind))
    expected = fastavro_body(kind, record)

    written = WRITERS[kind].write(record)

    assert written is None or written == expected
    try:
        framed = codec.encode(kind, record)
    except EncodeError:
        assert expected == "refused"
    else:
        assert framed == codec.MAGIC + SHIPPED.latest(kind).fingerprint + expected


def test_the_records_a_worker_writes_take_the_compiled_path() -> None:
    at = datetime(2027, 3, 1, 9, 0, 0, 123456, tzinfo=timezone.utc)
    records = {
        "run_status": {"kind": "run_started", "school": "s", "user": "u", "automation_id": "a", "at": at,
                       "automation_version": 3, "run_id": "r", "status": "executing", "trace_json": None},
        "action": {"idempotency_key": "k", "type": "send_email", "school": "s", "user": "u", "automation_id": "a",
                   "run_id": "r", "step_id": "st", "at": at, "template": "t", "value": None},
        "timer": {"op": "scheduled", "timer_id": "t", "school": "s", "user": "u", "kind": "wait", "due_at": at,
                  "automation_id": "a", "run_id": "r", "step_id": "st", "days": None, "fired_at": None},
    }
    for kind, record in records.items():
        assert WRITERS[kind].write(record) == fastavro_body(kind, record), kind
