"""Every topic's record survives encode -> decode, and no bytes crash the decoder.

Records are generated from the shipped .avsc files themselves (`records_of`),
so a new field or topic is covered without touching this file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.codec import SHIPPED, TOPIC_KINDS, DecodeError, EncodeError

UTC = timezone.utc
SCHEMA_DIR = Path(codec.__file__).parent

# ---------------------------------------------------------------- helpers (shared)

_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, width=32),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=64),
    "string": st.text(max_size=20),
}
_MILLIS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def records_of(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Values of a parsed Avro schema, in the form `codec.decode` returns them."""
    named = {} if named is None else named
    if isinstance(schema, str):
        return _PRIMITIVES[schema] if schema in _PRIMITIVES else records_of(named[schema], named)
    if isinstance(schema, list):
        record_branches = [b for b in schema if isinstance(b, dict) and b["type"] == "record"]
        tagged = len(record_branches) > 1  # decode returns (name, record) for these

        def branch(b: Any) -> st.SearchStrategy[Any]:
            values = records_of(b, named)
            return values.map(lambda v, name=b["name"]: (name, v)) if tagged and b in record_branches else values

        return st.one_of([branch(b) for b in schema])
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return _MILLIS
    if kind == "record":
        named[schema["name"]] = schema
        return st.fixed_dictionaries({f["name"]: records_of(f["type"], named) for f in schema["fields"]})
    if kind == "enum":
        named[schema["name"]] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(records_of(schema["items"], named), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=10), records_of(schema["values"], named), max_size=4)
    return records_of(kind, named)


def damaged_frame(kind: str, data: st.DataObject) -> bytes:
    """A framed record of `kind`, past its header cut short, one byte changed, or bytes added."""
    framed = bytearray(codec.encode(kind, data.draw(records_of(SHIPPED.latest(kind).schema))))
    damage = data.draw(st.sampled_from(["cut", "change", "add"]))
    at = data.draw(st.integers(codec.HEADER_LENGTH, len(framed) - 1))
    if damage == "cut":
        del framed[at:]
    elif damage == "change":
        framed[at] = data.draw(st.integers(0, 255))
    else:
        framed[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    return bytes(framed)


def assert_same(actual: Any, expected: Any, path: str = "record") -> None:
    """Equality that also tells True from 1 and 1.0 from 1."""
    assert type(actual) is type(expected), f"{path}: {actual!r} is not {expected!r}"
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), f"{path}: keys differ"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: lengths differ"
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def assert_one_line_reason(error: DecodeError) -> None:
    assert error.reason and "\n" not in error.reason and str(error) == error.reason
    error.reason.encode("utf-8")  # a reason must itself be writable to the dead-letter topic


# ---------------------------------------------------------------- the registry


def test_registry_lists_every_shipped_schema_file() -> None:
    listed = json.loads((SCHEMA_DIR / "registry.json").read_text())
    assert sorted(listed.values()) == sorted(p.name for p in SCHEMA_DIR.glob("*.avsc"))
    assert {SHIPPED.latest(kind).kind for kind in TOPIC_KINDS} == set(TOPIC_KINDS)


def test_a_shipped_schema_edited_in_place_is_refused(tmp_path: Path) -> None:
    for source in [SCHEMA_DIR / "registry.json", *SCHEMA_DIR.glob("*.avsc")]:
        (tmp_path / source.name).write_text(source.read_text())
    edited = json.loads((tmp_path / "timer.v1.avsc").read_text())
    edited["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
    (tmp_path / "timer.v1.avsc").write_text(json.dumps(edited))

    with pytest.raises(RuntimeError, match="timer.v1.avsc changed after it shipped"):
        codec.load_shipped(tmp_path)


def test_the_fingerprint_is_crc64_avro_of_the_canonical_form() -> None:
    # Known value from the Avro specification's test suite: "null" -> 0x63dd24e7cc258f8a.
    assert codec.schema_fingerprint("null") == (0x63DD24E7CC258F8A).to_bytes(8, "little")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", TOPIC_KINDS)
def test_every_schema_is_documented_and_optional_fields_default_to_null(kind: str) -> None:
    schema = SHIPPED.latest(kind).schema  # type: ignore[arg-type]
    assert schema["name"].startswith("org.schoolautomations.")
    assert schema.get("doc")
    for field in schema["fields"]:
        assert field.get("doc"), f"{kind}.{field['name']} has no doc"
        if isinstance(field["type"], list) and field["type"][0] == "null":
            assert field.get("default", "missing") is None, f"{kind}.{field['name']}"


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", TOPIC_KINDS)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_record_survives_encode_and_decode(kind: str, data: st.DataObject) -> None:
    record = data.draw(records_of(SHIPPED.latest(kind).schema))  # type: ignore[arg-type]

    framed = codec.encode(kind, record)  # type: ignore[arg-type]

    assert framed[:2] == b"\xc3\x01"
    assert framed[2:10] == SHIPPED.latest(kind).fingerprint  # type: ignore[arg-type]
    assert_same(codec.decode(kind, framed), record)  # type: ignore[arg-type]


def test_left_out_optional_fields_take_their_defaults() -> None:
    at = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    given_record = {"kind": "run_started", "school": "s1", "user": "u42", "automation_id": "a1", "at": at}

    decoded = codec.decode("run_status", codec.encode("run_status", given_record))

    assert decoded["at"] == at and decoded["status"] is None and decoded["trace_json"] is None


def test_an_unknown_field_is_a_programming_error_not_silently_dropped() -> None:
    record = {"reason": "r", "source_topic": "t", "partition": 0, "offset": 1,
              "received_at": datetime(2027, 1, 1, tzinfo=UTC), "recieved": "typo"}

    with pytest.raises(EncodeError, match="recieved"):
        codec.encode("dead_letter", record)


# ---------------------------------------------------------------- hostile bytes


def _decode_or_refuse(kind: str, data: bytes) -> None:
    try:
        codec.decode(kind, data)  # type: ignore[arg-type]
    except DecodeError as error:
        assert_one_line_reason(error)


@pytest.mark.parametrize("kind", TOPIC_KINDS)
@settings(max_examples=300)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_decode_error(kind: str, data: bytes) -> None:
    _decode_or_refuse(kind, data)


@pytest.mark.parametrize("kind", TOPIC_KINDS)
@settings(max_examples=300)
@given(body=st.binary(max_size=200))
def test_a_valid_header_with_an_arbitrary_body_raises_only_decode_error(kind: str, body: bytes) -> None:
    _decode_or_refuse(kind, b"\xc3\x01" + SHIPPED.latest(kind).fingerprint + body)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", TOPIC_KINDS)
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_damaged_record_raises_only_decode_error(kind: str, data: st.DataObject) -> None:
    framed = bytearray(codec.encode(kind, data.draw(records_of(SHIPPED.latest(kind).schema))))  # type: ignore[arg-type]
    position = data.draw(st.integers(10, max(10, len(framed) - 1)))
    if data.draw(st.booleans()):
        del framed[position:]
    else:
        framed[position % len(framed)] ^= data.draw(st.integers(1, 255))

    _decode_or_refuse(kind, bytes(framed))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "no value (null)"),
        (b"{}", "too short"),
        (b'{"id": "evt-1"}', "not Avro single-object encoding"),
        (b"\xc3\x01" + bytes(8), "unknown writer schema, fingerprint 0000000000000000"),
    ],
)
def test_refusals_say_what_is_wrong(data: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(reason)):
        codec.decode("school_event", data)  # type: ignore[arg-type]


def test_a_record_of_another_topic_is_refused_by_name() -> None:
    framed = codec.encode("control", {"command_id": "c", "type": "cancel_run", "school": "s",
                                      "user": "u", "requested_at": datetime(2027, 1, 1, tzinfo=UTC)})

    with pytest.raises(DecodeError, match="written with the control v1 schema, expected action"):
        codec.decode("action", framed)


def test_the_same_bytes_are_refused_with_the_same_reason() -> None:
    framed = codec.encode("action", {"idempotency_key": "k", "school": "s", "type": "send_email", "user": "u",
                                     "run_id": "r", "automation_id": "a", "at": datetime(2027, 1, 1, tzinfo=UTC),
                                     "step_id": "st", "field": "f", "value": False})
    reasons = set()
    for _ in range(2):
        with pytest.raises(DecodeError) as refused:
            codec.decode("action", framed[:-1])  # cut in the last field, a boolean
        reasons.add(refused.value.reason)

    (reason,) = reasons
    assert "cannot read boolean" in reason and " at 0x" not in reason


def test_trailing_bytes_are_refused() -> None:
    framed = codec.encode("control", {"command_id": "c", "type": "cancel_run", "school": "s",
                                      "user": "u", "requested_at": datetime(2027, 1, 1, tzinfo=UTC)})

    with pytest.raises(DecodeError, match="1 bytes left after the control v1 record"):
        codec.decode("control", framed + b"\x00")
