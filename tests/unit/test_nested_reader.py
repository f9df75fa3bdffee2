"""The reader of nested records (`schemas.nested_reader`) reads what fastavro reads.

Every kind it reads (the school event above all: unions of records, a map of a
union, an array), its records drawn by hypothesis from the shipped schema, comes
back exactly as from fastavro with the options `schemas.codec` reads with; and
bytes that are not a well-formed record (cut short, one byte changed, bytes
added) are either read alike by both or left to fastavro (None), never read
otherwise.
"""

from __future__ import annotations

import io
import json
import math

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.nested_reader import NestedReader
from tests.unit.test_schemas_roundtrip import assert_same, damaged_frame, records_of

SHIPPED = codec.load_shipped()
NESTED = ["school_event", "action", "control", "definition", "receipt"]


def fastavro_read(kind: str, body: bytes):
    stream = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(stream, SHIPPED.latest(kind).schema, None,
                                            return_record_name=True, return_record_name_override=True)
    except Exception:
        return "refused"
    return record if stream.tell() == len(body) else "refused"


def _typed(value):
    """`value` with its types and key order spelled out, a NaN equal to a NaN."""
    if isinstance(value, dict):
        return ("dict", [(key, _typed(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def _compiled(kind: str) -> NestedReader:
    return NestedReader(json.loads(SHIPPED.latest(kind).source))


READERS = {kind: _compiled(kind) for kind in NESTED}


def test_the_school_event_has_a_reader_and_what_it_cannot_read_is_refused_when_built() -> None:
    assert set(READERS) == set(NESTED)
    for schema in ({"type": "record", "name": "R", "fields": [{"name": "b", "type": "bytes"}]},
                   {"type": "record", "name": "R", "fields": [{"name": "u", "type": ["null", {"type": "record", "name": "S", "fields": []}]}]},
                   {"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}]}):
        with pytest.raises(ValueError):
            NestedReader(schema)


@pytest.mark.parametrize("kind", NESTED)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_reads_as_fastavro_reads_it(kind: str, data: st.DataObject) -> None:
    framed = codec.encode(kind, data.draw(records_of(SHIPPED.latest(kind).schema)))

    read = READERS[kind].read(framed, codec.HEADER_LENGTH)

    assert_same(read, fastavro_read(kind, framed[codec.HEADER_LENGTH:]))
    assert _typed(read) == _typed(fastavro_read(kind, framed[codec.HEADER_LENGTH:]))


@pytest.mark.parametrize("kind", NESTED)
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_bytes_are_read_alike_or_left_to_fastavro(kind: str, data: st.DataObject) -> None:
    framed = damaged_frame(kind, data)

    read = READERS[kind].read(framed, codec.HEADER_LENGTH)

    if read is not None:
        assert _typed(read) == _typed(fastavro_read(kind, bytes(framed[codec.HEADER_LENGTH:])))


def _registry_decode(kind: str, framed: bytes):
    try:
        return SHIPPED.decode(kind, framed)
    except codec.DecodeError as error:
        return f"refused: {error.reason}"


def _module_decode(kind: str, framed: bytes):
    try:
        return codec.decode(kind, framed)
    except codec.DecodeError as error:
        return f"refused: {error.reason}"


@pytest.mark.parametrize("kind", sorted(codec._COMPILED_LATEST))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_decode_straight_to_the_compiled_reader_answers_as_the_registry_does(kind: str, data: st.DataObject) -> None:
    """`codec.decode` hands a record framed with the latest schema to its compiled reader without
    the registry's framing checks: whole or damaged, the record (or the refusal) is the registry's."""
    if data.draw(st.booleans(), label="damaged"):
        framed = damaged_frame(kind, data)
    else:
        framed = codec.encode(kind, data.draw(records_of(SHIPPED.latest(kind).schema)))

    read, expected = _module_decode(kind, framed), _registry_decode(kind, framed)

    assert _typed(read) == _typed(expected)
