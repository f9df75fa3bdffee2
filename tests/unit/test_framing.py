"""Both framings a value may have: Avro single-object encoding and the Confluent wire format.

A reader takes both, told apart by the first byte, whichever one its process
writes; garbage in either is refused with a one-line reason. The registry here
is confluent-kafka's own in-memory one (`mock://`), so no server is faked: the
real one is met in tests/integration/test_schema_registry.py.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.codec import SHIPPED, TOPIC_KINDS, DecodeError
from schemas.confluent import RETRY_AFTER_SECONDS, RegistryUnavailable, SchemaRegistryIds, subject
from tests.unit.test_schemas_roundtrip import assert_one_line_reason, assert_same, records_of

_names = itertools.count()
TOPICS = {kind: (f"t.{kind}",) for kind in TOPIC_KINDS} | {"run_status": ("t.run-status", "t.automation-runs")}


def registry_ids() -> SchemaRegistryIds:
    """A fresh in-memory registry (confluent-kafka's mock client keeps one per URL)."""
    ids = SchemaRegistryIds(f"mock://framing-{next(_names)}", TOPICS)
    ids.prepare()
    return ids


IDS = registry_ids()


@pytest.fixture
def writing_confluent():
    codec.use_schema_registry(IDS)
    yield IDS
    codec.use_schema_registry(None)


@pytest.mark.parametrize("kind", TOPIC_KINDS)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_survives_either_framing(kind: str, data: st.DataObject) -> None:
    record = data.draw(records_of(SHIPPED.latest(kind).schema))
    single = SHIPPED.encode(kind, record)
    confluent = SHIPPED.encode_confluent(kind, record, IDS.writer_id(kind))
    assert single[:2] == b"\xc3\x01" and confluent[:1] == b"\x00"
    assert single[10:] == confluent[5:], "the same Avro body under either header"
    for framed in (single, confluent):
        assert_same(SHIPPED.decode(kind, framed, IDS), record)


def test_the_process_writes_the_confluent_wire_format_once_a_registry_is_in_use(writing_confluent) -> None:
    value = codec.encode("receipt", {"event_id": "e1", "school": "s", "user": "u", "at": 0})
    assert value[:1] == b"\x00"
    schema_id = int.from_bytes(value[1:5], "big")
    assert schema_id == writing_confluent.writer_id("receipt")
    assert codec.decode("receipt", value)["event_id"] == "e1"


def test_every_kind_is_registered_under_its_topics_subjects() -> None:
    # (The mock keeps no config: BACKWARD is checked against a server in the integration test.)
    client = IDS._client
    for kind, topics in TOPICS.items():
        for topic in topics:
            latest = client.get_latest_version(subject(topic))
            assert IDS.version_of(latest.schema_id) is SHIPPED.latest(kind)


def test_ids_are_looked_up_once_not_per_record(writing_confluent, monkeypatch) -> None:
    asked = []
    for name in ("register_schema", "get_schema", "set_config"):
        real = getattr(writing_confluent._client, name)
        monkeypatch.setattr(writing_confluent._client, name, lambda *a, _real=real, _name=name, **k: (asked.append(_name), _real(*a, **k))[1])
    for n in range(100):
        codec.decode("receipt", codec.encode("receipt", {"event_id": f"e{n}", "school": "s", "user": "u", "at": 0}))
    assert asked == []


@pytest.mark.parametrize("kind", TOPIC_KINDS)
@settings(max_examples=200)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_decode_error_with_a_registry(kind: str, data: bytes) -> None:
    try:
        SHIPPED.decode(kind, data, IDS)
    except DecodeError as error:
        assert_one_line_reason(error)


@pytest.mark.parametrize("kind", TOPIC_KINDS)
@settings(max_examples=100)
@given(body=st.binary(max_size=200))
def test_a_known_schema_id_with_an_arbitrary_body_raises_only_decode_error(kind: str, body: bytes) -> None:
    try:
        SHIPPED.decode(kind, b"\x00" + IDS.writer_id(kind).to_bytes(4, "big") + body, IDS)
    except DecodeError as error:
        assert_one_line_reason(error)


@pytest.mark.parametrize(
    ("data", "ids", "reason"),
    [
        (b"\x00\x00\x00", IDS, "3 bytes is too short for a Confluent wire format header"),
        (b"\x00\x00\x01\x86\xa0abc", IDS, "schema id 100000 is not in the schema registry"),
        (b"\x00\x00\x00\x00\x07abc", None, "Confluent wire format (schema id 7), but no schema registry is configured"),
        (b"\x01\x02 neither", IDS, "not Avro single-object encoding (c301) nor the Confluent wire format (00): starts with 0102"),
    ],
)
def test_refusals_say_what_is_wrong(data: bytes, ids, reason: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(reason)) as refused:
        SHIPPED.decode("run_status", data, ids)
    assert_one_line_reason(refused.value)


def test_an_id_of_another_kind_is_refused_by_name() -> None:
    schema_id = IDS.writer_id("receipt")
    with pytest.raises(DecodeError, match="written with the receipt v1 schema, expected run_status"):
        SHIPPED.decode("run_status", b"\x00" + schema_id.to_bytes(4, "big") + b"\x00", IDS)


def test_a_schema_that_is_not_ours_is_refused_and_asked_for_only_once() -> None:
    from confluent_kafka.schema_registry import Schema

    ids = registry_ids()
    foreign = ids._client.register_schema("other-value", Schema('{"type": "record", "name": "X", "fields": []}', "AVRO"))
    for _ in range(2):
        with pytest.raises(DecodeError, match=f"schema id {foreign} in .* is not a shipped version"):
            SHIPPED.decode("run_status", b"\x00" + foreign.to_bytes(4, "big"), ids)
    assert ids._versions[foreign] is None


def test_an_unreachable_registry_is_not_a_refusal_and_is_not_asked_again_at_once() -> None:
    now = [100.0]
    ids = SchemaRegistryIds("http://127.0.0.1:9", TOPICS, clock=lambda: now[0])  # the discard port: refused
    with pytest.raises(RegistryUnavailable, match="unreachable") as first:
        ids.writer_id("receipt")
    assert not isinstance(first.value, DecodeError)
    with pytest.raises(RegistryUnavailable):  # fails at once, without a request
        SHIPPED.decode("run_status", b"\x00\x00\x00\x00\x01", ids)
    now[0] += RETRY_AFTER_SECONDS
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        ids.version_of(1)


def test_the_decode_command_reads_either_framing_with_the_registry_of_the_environment(monkeypatch) -> None:
    import base64
    import json

    from typer.testing import CliRunner

    from cli import _mount, app
    from processors import config
    from tests.integration.harness import free_port
    from tests.registry_server import RegistryServer

    registry = RegistryServer(free_port()).start()  # a local HTTP server: no broker needed
    monkeypatch.setenv("AUTOMATIONS_SCHEMA_REGISTRY_URL", registry.url)
    try:
        config.load()  # the process that wrote the topic
        record = {"event_id": "e1", "school": "s", "user": "u", "at": 0}
        values = [SHIPPED.encode("receipt", record), codec.encode("receipt", record)]
        assert [value[:1] for value in values] == [b"\xc3", b"\x00"]
        codec.use_schema_registry(None)  # `automations decode` is another process
        _mount()
        lines = b"".join(base64.b64encode(value) + b"\n" for value in values)
        result = CliRunner().invoke(app, ["decode", "receipt", "--format", "base64"], input=lines)
        assert result.exit_code == 0, result.output
        assert [json.loads(line)["event_id"] for line in result.stdout.splitlines()] == ["e1", "e1"]
    finally:
        codec.use_schema_registry(None)
        registry.stop()
