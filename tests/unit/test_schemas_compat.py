"""Schema evolution: a record written with any earlier version decodes under the latest.

Generic over every topic kind and every older version, shipped or kept as a
fixture in schemas/testdata/ (run_status v0 proves the mechanism until a real
v2 ships). Fields the old writer did not know come back as their defaults.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.codec import SHIPPED, TOPIC_KINDS, DecodeError, Registry, SchemaVersion
from tests.unit.test_schemas_roundtrip import assert_same, records_of

TESTDATA = Path(codec.__file__).parent / "testdata"
EARLIER = [SchemaVersion.load(path) for path in sorted(TESTDATA.glob("*.avsc"))]
EVERY_VERSION = Registry([v for kind in TOPIC_KINDS for v in SHIPPED.versions(kind)] + EARLIER)
OLDER = [
    version
    for kind in TOPIC_KINDS
    for version in EVERY_VERSION.versions(kind)[:-1]
]


def under_reader(schema: Any, value: Any, named: dict[str, Any]) -> Any:
    """What `value`, written with an older schema, should read as under `schema`."""
    if isinstance(schema, str):
        return under_reader(named[schema], value, named) if schema in named else value
    if isinstance(schema, list):
        if isinstance(value, tuple):  # a tagged record of a multi-record union
            name, inner = value
            branch = next(b for b in schema if isinstance(b, dict) and b.get("name") == name)
            return (name, under_reader(branch, inner, named))
        if isinstance(value, dict):
            branch = next(b for b in schema if isinstance(b, dict) and b["type"] in ("record", "map"))
            return under_reader(branch, value, named)
        return value
    if "name" in schema:
        named[schema["name"]] = schema
    if schema["type"] == "record":
        return {
            f["name"]: under_reader(f["type"], value[f["name"]], named) if f["name"] in value else f["default"]
            for f in schema["fields"]
        }
    if schema["type"] == "array":
        return [under_reader(schema["items"], item, named) for item in value]
    if schema["type"] == "map":
        return {key: under_reader(schema["values"], item, named) for key, item in value.items()}
    return value


def test_there_is_an_earlier_version_to_check() -> None:
    assert any(v.kind == "run_status" and v.version == 0 for v in OLDER)


@pytest.mark.parametrize("writer", OLDER, ids=lambda v: v.label)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_of_an_older_version_decodes_under_the_latest(
    writer: SchemaVersion, data: st.DataObject
) -> None:
    record = data.draw(records_of(writer.schema))

    decoded = EVERY_VERSION.decode(writer.kind, EVERY_VERSION.encode(writer.kind, record, writer.version))

    latest = EVERY_VERSION.latest(writer.kind).schema
    assert_same(decoded, under_reader(latest, record, {}))


def test_a_v0_run_status_reads_as_v1_with_the_new_fields_null() -> None:
    # given a run-status record written by the earlier, smaller schema
    at = datetime(2027, 3, 1, 9, 30, tzinfo=timezone.utc)
    old = {"kind": "run_status_changed", "school": "s1", "user": "u42", "automation_id": "a1",
           "run_id": "r1", "at": at, "status": "failed", "error": "field birthday: 'soon' is not a date"}

    # when a current reader decodes it
    decoded = EVERY_VERSION.decode("run_status", EVERY_VERSION.encode("run_status", old, version=0))

    # then the old fields are intact and the fields v1 added are null
    assert {key: decoded[key] for key in old} == old
    assert decoded["automation_version"] is None
    assert decoded["trace_json"] is None and decoded["exit_id"] is None


def test_a_reader_refuses_a_writer_schema_it_was_never_shipped() -> None:
    at = datetime(2027, 3, 1, tzinfo=timezone.utc)
    framed = EVERY_VERSION.encode(
        "run_status", {"kind": "run_started", "school": "s", "user": "u", "automation_id": "a", "at": at}, version=0
    )

    with pytest.raises(DecodeError, match="unknown writer schema"):
        SHIPPED.decode("run_status", framed)
