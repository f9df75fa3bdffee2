"""Records no worker writes, put on a topic by hand: each processor dead-letters them with the
reason and goes on; none raises (a raise aborts the batch, and the record comes back at
every try).

The processors are called as the stream runtime calls them, without Kafka; the integration
tests cover the same processors on the broker.
"""

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.commands import ReplayRun
from engine.definitions import assign_ids
from engine.documents import load_document
from engine.validation import validate_document
from processors.broadcasts_processor import BroadcastsProcessor, broadcast_for
from processors.definitions_table import DefinitionsTable, UnreadableDefinition, automation_of
from processors.live_runs_processor import LiveRunsProcessor
from processors.records import control_record
from processors.stream.contract import Input
from processors.stream.state_store import PartitionStore
from processors import schema_registry
from schemas import codec
from schemas.codec import SHIPPED, decode, encode
from schemas.confluent import RegistryUnavailable
from tests.unit.stream_world import TOPICS, Clock, ProcessorWorld

AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


def reasons(outputs) -> list[str]:
    return [decode("dead_letter", o.value)["reason"] for o in outputs if o.topic == TOPICS.dead_letter]


def test_an_operator_command_for_the_broadcast_user_is_dead_lettered_not_broadcast(tmp_path):
    world = ProcessorWorld(tmp_path, [])
    replay = control_record(ReplayRun(run_id="r", command_id="c1"), "s1", "*", AT)

    outputs = world.deliver(world.input(TOPICS.control, b"s1:*", replay, partition=0))

    assert reasons(outputs) == ["user '*' is reserved for broadcast commands; a ReplayRun cannot name it"]
    world.close()


def test_a_run_record_that_is_no_start_or_end_is_dead_lettered_by_the_live_runs_processor(tmp_path):
    processor, store, outputs = LiveRunsProcessor(TOPICS, Clock(AT)), PartitionStore(tmp_path / "s", 0), []
    declined = encode("run_status", {"kind": "entry_declined", "school": "s1", "user": "u1", "automation_id": "a1", "at": AT})
    started = encode("run_status", {"kind": "run_started", "school": "s1", "user": "u1", "automation_id": "a1",
                                    "run_id": "r1", "at": AT})

    processor.process(0, [Input(TOPICS.automation_runs, 0, 3, b"s1:a1", declined, None),
                          Input(TOPICS.automation_runs, 0, 4, None, started, None),
                          Input(TOPICS.automation_runs, 0, 5, b"s1:a1", b"junk", None)], store, outputs.append)

    assert reasons(outputs)[:2] == [
        "a entry_declined record (status None, run_id None); this topic holds run starts and ends only",
        "a run start or end without its key (school:automation)",
    ]
    assert len(reasons(outputs)) == 3 and not store.dirty
    store.close()


def test_an_unreadable_definitions_record_is_dead_lettered_by_the_broadcasts_processor():
    processor, outputs = BroadcastsProcessor(TOPICS, 4, Clock(AT)), []
    record = encode("definition", {"event": "activated", "automation_id": "a1", "school": "s1", "version": 2, "at": AT,
                                   "automation_json": "["})

    processor.process(0, [Input(TOPICS.definitions, 0, 0, b"s1:a1", record, None)], None, outputs.append)

    assert [o.topic for o in outputs] == [TOPICS.dead_letter]
    assert "automation_json of 'a1' is unreadable" in reasons(outputs)[0]


def definition(automation_json: str) -> dict:
    return {"event": "activated", "automation_id": "a1", "school": "s1", "version": 2, "at": AT,
            "automation_json": automation_json}


@pytest.mark.parametrize("automation_json", ["x", "[]", "[" * 5000, "1" * 5000, json.dumps({"id": "a1"})])
def test_an_unreadable_automation_in_a_definitions_record_is_one_error_type(automation_json):
    with pytest.raises(UnreadableDefinition, match="automation_json of 'a1' is unreadable"):
        automation_of(definition(automation_json))
    with pytest.raises(UnreadableDefinition):
        broadcast_for(definition(automation_json))


def test_the_definitions_table_skips_an_unreadable_record_and_keeps_the_rest():
    raw = load_document(Path("examples/automations/welcome-tag.yaml").read_text(), "welcome-tag.yaml")
    automation, problems = validate_document(raw)
    assert automation is not None and not problems
    good = assign_ids(automation, lambda path: f"step-{abs(hash(path))}")
    table = DefinitionsTable()

    table.apply(f"{good.school}:{good.id}", encode("definition", {**definition(good.model_dump_json()),
                                                                   "automation_id": good.id, "school": good.school}))
    table.apply("s1:a1", encode("definition", definition("[" * 5000)))
    table.apply("\ufffd:a2", encode("definition", definition("x")))  # a key that was not UTF-8, as the consumer decodes it

    assert table.catalog.get(good.id) == good
    assert table.catalog.get("a1") is None and table.versions == {good.id: 2}


class RegistryAwayAtFirst:
    """Schema ids as a registry gives them, except that it is unreachable for the first asks."""

    def __init__(self, away_for: int):
        self.away_for = away_for
        self.asked = 0

    def writer_id(self, kind):
        return 7

    def version_of(self, schema_id):
        self.asked += 1
        if self.asked <= self.away_for:
            raise RegistryUnavailable("schema registry at http://registry unreachable (refused)")
        return SHIPPED.latest("definition")


def test_a_definition_whose_schema_id_needs_an_absent_registry_waits_for_it_and_is_applied(monkeypatch):
    raw = load_document(Path("examples/automations/welcome-tag.yaml").read_text(), "welcome-tag.yaml")
    automation, _ = validate_document(raw)
    good = assign_ids(automation, lambda path: f"step-{abs(hash(path))}")
    record = {**definition(good.model_dump_json()), "automation_id": good.id, "school": good.school}
    registry = RegistryAwayAtFirst(away_for=2)
    monkeypatch.setattr(schema_registry, "RETRY_SECONDS", 0)
    monkeypatch.setattr(codec, "_registry_ids", registry)
    table = DefinitionsTable()

    asyncio.run(table._apply_when_readable(f"{good.school}:{good.id}", SHIPPED.encode_confluent("definition", record, 7)))

    assert registry.asked == 3 and table.catalog.get(good.id) == good
