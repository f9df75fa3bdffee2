"""The compiled reader of flat records (`schemas.flat_reader`) reads what fastavro reads.

Every flat kind's records, drawn by hypothesis from the shipped schema, come
back from the compiled reader exactly as from fastavro; and bytes that are
not a well-formed record (cut short, one byte changed, bytes added) are
either read alike by both or left to fastavro (None), never read otherwise.
"""

from __future__ import annotations

import io
import json

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.flat_reader import FlatReader
from tests.unit.test_schemas_roundtrip import damaged_frame, records_of

SHIPPED = codec.load_shipped()
FLAT = [kind for kind in codec.TOPIC_KINDS if kind in ("run_status", "timer")]


def fastavro_read(kind: str, body: bytes):
    schema = SHIPPED.latest(kind).schema
    stream = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(stream, schema, None)
    except Exception:
        return "refused"
    return record if stream.tell() == len(body) else "refused"


def test_run_status_and_timer_are_read_by_the_compiled_reader() -> None:
    for kind in FLAT:
        FlatReader(json.loads(SHIPPED.latest(kind).source))
    with pytest.raises(ValueError):
        FlatReader(json.loads(SHIPPED.latest("school_event").source))


@pytest.mark.parametrize("kind", FLAT)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_reads_as_fastavro_reads_it(kind: str, data: st.DataObject) -> None:
    record = data.draw(records_of(SHIPPED.latest(kind).schema))
    framed = codec.encode(kind, record)
    reader = FlatReader(json.loads(SHIPPED.latest(kind).source))

    assert reader.read(framed, codec.HEADER_LENGTH) == fastavro_read(kind, framed[codec.HEADER_LENGTH:])


@pytest.mark.parametrize("kind", FLAT)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_bytes_are_read_alike_or_left_to_fastavro(kind: str, data: st.DataObject) -> None:
    framed = damaged_frame(kind, data)
    reader = FlatReader(json.loads(SHIPPED.latest(kind).source))

    read = reader.read(framed, codec.HEADER_LENGTH)

    assert read is None or read == fastavro_read(kind, bytes(framed[codec.HEADER_LENGTH:]))
