"""Malformed school events go to the dead-letter topic with the reason; the stream goes on.

The JSON edge refuses bad events before Kafka, so these are written as raw
bytes straight to the school-events topic, the way a misbehaving producer
would: bad JSON, JSON instead of Avro, another topic's schema, an unknown
schema, a cut-off record, an unknown event type, a payload of the wrong shape,
no school, no user, an event over the size limit, an event under another
learner's key, a tombstone. Valid events are interleaved with them.

Then: each bad one has exactly one dead letter naming why, where it came
from and its bytes; every valid one was processed (its receipt, its actions);
and what went in equals what was processed plus what was dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from engine.definitions import Automation
from engine.school_events import SchoolEvent
from processors.receipts import RECEIPT_HEADER
from processors.records import MAX_EVENT_BYTES
from schemas.codec import MAGIC, encode
from schemas.school_events import school_event_to_avro
from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "automations" / "welcome-tag.yaml"
SCHOOL = "demo-school"
AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


def event(number: int, **changes) -> SchoolEvent:
    fields = {
        "id": f"e{number}",
        "type": "user.tag_added",
        "school": SCHOOL,
        "user": f"u{number}",
        "occurred_at": AT + timedelta(seconds=number),
        "data": {"tag": "new-student"},
    }
    return SchoolEvent(**{**fields, **changes})


def avro(value: SchoolEvent, **record_changes) -> bytes:
    return encode("school_event", {**school_event_to_avro(value), **record_changes})


def malformed() -> list[tuple[str, bytes | None, str]]:
    """(key, raw value, a phrase its dead-letter reason must hold)."""
    good = avro(event(900))
    timer = encode(
        "timer",
        {"op": "scheduled", "timer_id": "t", "school": SCHOOL, "user": "u1", "kind": "wait", "due_at": AT},
    )
    oversized = avro(event(902, data={"tag": "x" * (MAX_EVENT_BYTES + 1000)}))
    return [
        (f"{SCHOOL}:u900", b'{"id": "e900", "type": "user.tag_added", "school": ', "undecodable school event: invalid JSON"),
        (f"{SCHOOL}:u901", b"\x01\x02 neither Avro nor JSON", "not Avro single-object encoding"),
        # 0x00 starts the Confluent wire format, which needs a schema registry to look its id up.
        (f"{SCHOOL}:u901", b"\x00\x00\x00\x00\x07 Confluent framing", "no schema registry is configured"),
        (f"{SCHOOL}:u1", timer, "written with the timer v1 schema, expected school_event"),
        (f"{SCHOOL}:u900", MAGIC + b"\x00" * 8 + good[10:], "unknown writer schema"),
        (f"{SCHOOL}:u900", good[: len(good) // 2], "undecodable school_event v1 body"),
        (f"{SCHOOL}:u903", avro(event(903), type="user.teleported"), "unknown event type 'user.teleported'"),
        (f"{SCHOOL}:u904", avro(event(904), type="course.enrolled"), "data is a TagChanged record"),
        (":u905", avro(event(905), school=""), "invalid school event: school: "),
        (f"{SCHOOL}:", avro(event(906), user=""), "invalid school event: user: "),
        (f"{SCHOOL}:u907", avro(event(907), occurred_at="2027-03-01T09:00:00"), "occurred_at: "),
        (f"{SCHOOL}:u902", oversized, f"over the limit of {MAX_EVENT_BYTES}"),
        (f"{SCHOOL}:someone-else", avro(event(908)), "does not match the record's school:user"),
        (f"{SCHOOL}:u909", None, "empty message value"),
        (f"{SCHOOL}:u910", b"", "too short"),
    ]


async def produce_raw(bootstrap: str, topic: str, records: list[tuple[str | bytes, bytes | None]]) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2_000_000)
    await producer.start()
    try:
        positions = []
        for key, value in records:
            raw_key = key.encode() if isinstance(key, str) else key
            sent = await producer.send_and_wait(topic, key=raw_key, value=value, headers=[(RECEIPT_HEADER, b"1")])
            positions.append((sent.partition, sent.offset))
        return positions
    finally:
        await producer.stop()


def test_malformed_events_are_dead_lettered_with_the_reason_and_the_rest_is_processed(start_worker):
    worker = start_worker(partitions=4)
    worker.clock(pin=AT)
    worker.save_and_activate(Automation.model_validate(yaml.safe_load(EXAMPLE.read_text())), now=AT)
    bad = malformed()
    valid = [event(number) for number in range(1, 21)]
    # Valid and malformed interleaved: two valid events, then a malformed one, ...
    batch: list[tuple[str, bytes | None]] = []
    expected_reason: dict[int, str] = {}
    for index, good in enumerate(valid):
        batch.append((good.key, avro(good)))
        if index % 2 == 1 and bad:
            key, value, reason = bad.pop(0)
            expected_reason[len(batch)] = reason
            batch.append((key, value))
    for key, value, reason in bad:
        expected_reason[len(batch)] = reason
        batch.append((key, value))

    positions = asyncio.run(produce_raw(worker.settings.bootstrap_servers, worker.settings.topics.school_events, batch))
    dead = worker.wait_for("dead_letter", lambda records: len(records) >= len(expected_reason))
    receipts = worker.wait_for("receipts", lambda records: len(records) >= len(batch))

    by_position = {(letter["partition"], letter["offset"]): letter for letter in dead}
    assert len(by_position) == len(dead) == len(expected_reason), "one dead letter per malformed event"
    for index, reason in expected_reason.items():
        letter = by_position.get(positions[index])
        assert letter is not None, f"record {index} ({reason}) was not dead-lettered"
        assert reason in letter["reason"], (reason, letter["reason"])
        assert letter["source_topic"] == worker.settings.topics.school_events
        key, value = batch[index]
        assert letter["key"] == key
        assert letter["value"] == (value or b"")[:MAX_EVENT_BYTES]
    oversized = next(letter for letter in dead if "over the limit" in letter["reason"])
    assert "keeps the first" in oversized["reason"] and len(oversized["value"]) == MAX_EVENT_BYTES

    processed = [r for r in receipts if r["dead_lettered"] is None]
    refused = [r for r in receipts if r["dead_lettered"] is not None]
    assert sorted(r["event_id"] for r in processed) == sorted(e.id for e in valid)
    assert len(refused) == len(dead), "a sender waiting on a refused event gets a receipt saying why"
    assert len(batch) == len(processed) + len(dead)

    actions = worker.wait_for("actions", lambda records: len(records) >= 2 * len(valid))
    assert len({a["idempotency_key"] for a in actions}) == len(actions) == 2 * len(valid)
    assert worker.process.poll() is None, "the worker is still running"

    # What monitoring sees of it (GET /metrics/).
    figures, topic = worker.metrics(), worker.settings.topics.school_events
    assert figures[("automations_inputs_total", (("topic", topic),))] == len(batch)
    assert figures[("automations_dead_letters_total", (("source_topic", topic),))] == len(dead)
    assert figures[("automations_ready", ())] == 1 and figures[("automations_definitions_loaded", ())] == 1
    lags = {labels: lag for (name, labels), lag in figures.items() if name == "automations_input_lag"}
    school_event_lags = [lag for labels, lag in lags.items() if ("topic", topic) in labels]
    assert len(school_event_lags) == 4 and sum(school_event_lags) == 0


def dead_letter(reason: str, source_topic: str, key: str, value: bytes, offset: int) -> bytes:
    """A dead letter as a worker writes one (here: as an older worker, or another agent, wrote it)."""
    return encode("dead_letter", {"reason": reason, "source_topic": source_topic, "partition": 0, "offset": offset,
                                  "key": key, "value": value, "received_at": AT})


def cli(worker, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], env={**worker.env(), "COLUMNS": "250"},
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_refused_school_events_sent_again_once_fixed_are_processed_and_the_rest_is_left(start_worker):
    worker = start_worker(partitions=2)
    worker.clock(pin=AT)
    worker.save_and_activate(Automation.model_validate(yaml.safe_load(EXAMPLE.read_text())), now=AT)
    topics = worker.settings.topics
    fixed = event(950)  # refused by an older worker that did not know its schema yet, say
    timer = encode("timer", {"op": "scheduled", "timer_id": "t", "school": SCHOOL, "user": "u1", "kind": "wait", "due_at": AT})
    asyncio.run(produce_raw(worker.settings.bootstrap_servers, topics.dead_letter, [
        (fixed.key, dead_letter("unknown writer schema, fingerprint 00ff", topics.school_events, fixed.key, avro(fixed), 7)),
        (f"{SCHOOL}:u1", dead_letter("undecodable timer v1 body", topics.delays, f"{SCHOOL}:u1", timer, 3)),
    ]))
    # and three the worker refuses now: bad bytes, one over the size limit (kept cut short), one
    # under a key that is not UTF-8 (kept as it came)
    oversized = avro(event(952, data={"tag": "x" * (MAX_EVENT_BYTES + 10)}))
    asyncio.run(produce_raw(worker.settings.bootstrap_servers, topics.school_events,
                            [(f"{SCHOOL}:u951", b'{"id": "e951"'), (f"{SCHOOL}:u952", oversized), (b"\xff\xfe", b"x")]))
    worker.wait_for("dead_letter", lambda records: len(records) == 5)

    listed = cli(worker, "dead-letters", "list", "--format", "jsonl")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 5 and {r["key"] for r in rows} == {
        fixed.key, f"{SCHOOL}:u1", f"{SCHOOL}:u951", f"{SCHOOL}:u952", "\ufffd\ufffd"}
    dry = cli(worker, "dead-letters", "resend", "--dry-run")
    assert dry.returncode == 0 and "1 would be sent, 4 not (dry run)" in dry.stdout, dry.stdout + dry.stderr
    assert worker.records("actions") == [], "a dry run sends nothing"

    sent = cli(worker, "dead-letters", "resend")

    assert sent.returncode == 0 and "sent 1 school event(s) again" in sent.stdout, sent.stdout + sent.stderr
    assert f"not sent: {topics.school_events}/0/7" not in sent.stdout
    assert "still refused: undecodable school event" in sent.stdout, "the bad bytes: today's reason"
    assert "only the start of the input was kept" in sent.stdout
    assert f"came from {topics.delays}" in sent.stdout
    actions = worker.wait_for("actions", lambda records: len(records) == 2)
    assert {a["user"] for a in actions} == {"u950"}
    assert len(worker.records("dead_letter")) == 5, "nothing sent came back refused"

    # A mistyped topic prefix is an error, not an empty list.
    missing = subprocess.run([sys.executable, str(ROOT / "cli.py"), "dead-letters", "list"], cwd=ROOT, timeout=120,
                             env={**worker.env(), "AUTOMATIONS_TOPIC_PREFIX": "no-such-prefix"}, capture_output=True, text=True)
    assert missing.returncode == 1 and "error: topic no-such-prefix.dead-letter does not exist" in missing.stderr
