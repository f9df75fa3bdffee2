"""Records no worker writes, put on a topic by hand: each agent dead-letters them with the
reason and goes on; none raises (a raise stops the agent, and the record comes back at
every restart).

The agents' handlers are called directly with a stand-in for the dead-letter topic; the
integration tests cover the same agents on the broker.
"""

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

import processors.definitions_agent as definitions_agent
import processors.finishing_agent as finishing_agent
import processors.learner_agent as learner_agent
import processors.timer_agent as timer_agent
from engine.commands import Timer
from engine.definitions import assign_ids
from engine.documents import load_document
from engine.validation import validate_document
from processors.app import dead_letter_topic
from processors.definitions_table import DefinitionsTable, UnreadableDefinition, automation_of
from processors.records import timer_record
from schemas.codec import decode, encode

AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


@pytest.fixture
def dead_letters(monkeypatch) -> list[dict]:
    sent: list[dict] = []

    async def send(key=None, value=None, **_):
        sent.append(decode("dead_letter", value))

    monkeypatch.setattr(dead_letter_topic, "send", send)
    return sent


def consumed(topic: str, key: bytes | None, value: bytes) -> SimpleNamespace:
    message = SimpleNamespace(topic=topic, partition=0, offset=3, key=key, value=value, headers=(), timestamp=None)
    return SimpleNamespace(message=message, key=key, value=value)


def test_a_fired_timer_for_the_broadcast_user_is_dead_lettered_not_broadcast(dead_letters):
    timer = Timer(id="t1", school="s1", user="*", kind="wait", due_at=AT, automation_id="a", run_id="r", step_id="w")
    topic = learner_agent.settings.topics.fired_timers

    asyncio.run(learner_agent._handle(consumed(topic, b"s1:*", timer_record("fired", timer, fired_at=AT))))

    assert [letter["reason"] for letter in dead_letters] == [
        "user '*' is reserved for broadcast commands; a FireTimer cannot name it"
    ]


def test_a_run_record_that_is_no_start_or_end_is_dead_lettered_by_the_finishing_agent(dead_letters):
    topic = finishing_agent.settings.topics.automation_runs
    declined = encode("run_status", {"kind": "entry_declined", "school": "s1", "user": "u1", "automation_id": "a1", "at": AT})
    started = encode("run_status", {"kind": "run_started", "school": "s1", "user": "u1", "automation_id": "a1",
                                    "run_id": "r1", "at": AT})

    asyncio.run(finishing_agent._take_in(consumed(topic, b"s1:a1", declined)))
    asyncio.run(finishing_agent._take_in(consumed(topic, None, started)))

    assert [letter["reason"] for letter in dead_letters] == [
        "a entry_declined record (status None, run_id None); this topic holds run starts and ends only",
        "a run start or end without its key (school:automation)",
    ]


def test_a_timer_due_before_1970_is_dead_lettered_instead_of_never_firing(dead_letters):
    early = Timer(id="t1", school="s1", user="u1", kind="wait", due_at=datetime(1969, 12, 31, tzinfo=timezone.utc),
                  automation_id="a", run_id="r", step_id="w")
    topic = timer_agent.settings.topics.delays

    asyncio.run(timer_agent._index(consumed(topic, b"s1:u1", timer_record("scheduled", early))))

    assert [letter["reason"] for letter in dead_letters] == ["timer 't1' is due at 1969-12-31T00:00:00+00:00, before 1970"]


def definition(automation_json: str) -> dict:
    return {"event": "activated", "automation_id": "a1", "school": "s1", "version": 2, "at": AT,
            "automation_json": automation_json}


@pytest.mark.parametrize("automation_json", ["x", "[]", "[" * 5000, "1" * 5000, json.dumps({"id": "a1"})])
def test_an_unreadable_automation_in_a_definitions_record_is_one_error_type(automation_json):
    with pytest.raises(UnreadableDefinition, match="automation_json of 'a1' is unreadable"):
        automation_of(definition(automation_json))
    with pytest.raises(UnreadableDefinition):
        definitions_agent.broadcast_for(definition(automation_json))


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
