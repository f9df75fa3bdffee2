"""`POST /schools/{school}/events`: school events in over HTTP (ruling 14).

Owns reading the body (one event or a list; every bad one reported with its
index and reason, nothing sent when any is bad), deciding whether the call
waits, and the write. An event that could trigger an active synchronous
automation of its school, itself or through the events its automations'
actions derive (`DefinitionsView.could_run_synchronously`), is sent with the
receipt header, and the call
returns once the worker's receipt says what its runs did up to their first
wait or end, with the actions; otherwise the call returns as soon as the
broker has the events. Both go through Kafka, in the order given.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from api.views import DefinitionsView, ReceiptWaiters
from api.writes import Unconfirmed, Writes
from engine import strict_json
from engine.school_events import EventRejected, SchoolEvent
from processors.config import Settings
from processors.ingest import edge_event, encode_event
from processors.receipts import RECEIPT_HEADER
from schemas.confluent import RegistryUnavailable


# A body this large (up to the server's client_max_size, with thousands of bad fields
# to report) can take seconds to validate; it is read on a thread so that other
# requests are answered meanwhile. Smaller ones are read at once.
PARSE_OFF_THE_LOOP_BYTES = 64 * 1024
# At most this many such bodies are read at once; more wait their turn, so a burst of
# large requests cannot take the server's memory with it.
_PARSING = asyncio.Semaphore(2)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


def read_events(raw: bytes, school: str, limit: int) -> tuple[list[SchoolEvent], list[dict]]:
    """The body's events, or every problem: [{index, event_id, reason}]."""
    try:
        items = strict_json.items(raw.decode("utf-8", errors="strict"), limit)
    except strict_json.TooMany:
        return [], [{"index": None, "event_id": None, "reason": f"more than {limit} events; at most {limit} per request"}]
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return [], [{"index": None, "event_id": None, "reason": f"the body is not JSON: {error}"}]
    if not items:
        return [], [{"index": None, "event_id": None, "reason": "the list holds no event"}]
    events, problems = [], []
    for index, item in enumerate(items):
        try:
            line = json.dumps(item)
        except RecursionError:  # json.loads nests deeper than json.dumps can go back
            problems.append({"index": index, "event_id": None, "reason": "invalid JSON: nested too deeply"})
            continue
        parsed = edge_event(line)
        if isinstance(parsed, EventRejected):
            problems.append({"index": index, "event_id": parsed.event_id, "reason": parsed.reason})
        elif parsed.school != school:
            problems.append(
                {"index": index, "event_id": parsed.id, "reason": f"school {parsed.school!r} is not this path's school {school!r}"}
            )
        else:
            events.append(parsed)
    return events, problems


def receipt_answer(receipt: dict) -> dict:
    return {
        "event_id": receipt["event_id"],
        "mode": "synchronous",
        "dead_lettered": receipt.get("dead_lettered"),
        "runs": [dict(run) for run in receipt["runs"]],
        "actions": json.loads(receipt["actions_json"] or "[]"),
    }


async def ingest(
    settings: Settings,
    producer: AIOKafkaProducer,
    definitions: DefinitionsView,
    waiters: ReceiptWaiters,
    school: str,
    raw: bytes,
    limit: int,
    timeout: float,
    writes: Writes,
) -> Answer:
    if len(raw) > PARSE_OFF_THE_LOOP_BYTES:
        async with _PARSING:
            events, problems = await asyncio.to_thread(read_events, raw, school, limit)
    else:
        events, problems = read_events(raw, school, limit)
    if problems:
        return Answer(400, {"error": f"{len(problems)} invalid event(s); nothing was sent", "problems": problems})
    synchronous = [definitions.could_run_synchronously(event) for event in events]
    expected: dict[int, tuple] = {}  # event index -> (receipt key, future)
    for index, (event, wait) in enumerate(zip(events, synchronous)):
        if wait:
            key = (event.school, event.user, event.id)
            expected[index] = (key, waiters.expect(key))

    async def send_all() -> None:
        sent = []
        for event, wait in zip(events, synchronous):
            key, value = encode_event(event)
            headers = [(RECEIPT_HEADER, b"1")] if wait else None
            sent.append(await producer.send(settings.topics.school_events, key=key.encode(), value=value, headers=headers))
        await asyncio.gather(*sent)

    try:
        try:
            await writes.run(send_all())
        except (KafkaError, Unconfirmed, RegistryUnavailable) as error:  # the broker or registry is away: send again
            why = type(error).__name__ if isinstance(error, KafkaError) else str(error)
            return Answer(503, {
                "error": f"Kafka did not take the events ({why}); some may be in, none is confirmed: "
                         "send them again (an event id starts its runs once)",
                "event_ids": [event.id for event in events],
            })
        if not expected:
            return Answer(202, {"accepted": len(events), "event_ids": [event.id for event in events]})
        futures = [future for _, future in expected.values()]
        # The server stopping ends the wait too: its caller hears so rather than a closed connection.
        every = asyncio.ensure_future(asyncio.wait(futures))  # cancelling it leaves the futures be
        stopping = asyncio.ensure_future(writes.stopping.wait())
        try:
            await asyncio.wait({every, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            every.cancel()
            stopping.cancel()
        done = [future for future in futures if future.done()]
        if len(done) < len(futures):
            missing = [events[index].id for index, (_, future) in expected.items() if not future.done()]
            why = "the server is stopping" if writes.stopping.is_set() else f"no receipt within {timeout:g}s"
            return Answer(
                504,
                {
                    "error": f"{why} for {len(missing)} event(s); they are in Kafka and will be processed",
                    "waiting_for": missing,
                },
            )
        answers = []
        for index, event in enumerate(events):
            if index in expected:
                answers.append(receipt_answer(expected[index][1].result()))
            else:
                answers.append({"event_id": event.id, "mode": "asynchronous", "accepted": True})
        return Answer(200, {"events": answers})
    finally:
        for key, future in expected.values():
            waiters.forget(key, future)
