"""Every input message processed, in offset order: the agents' own record of where they are.

Owns, per input partition an agent reads, the next offset it expects, kept in
the agent's own table, and `ahead_of`, which reads the messages between that
offset and the one Faust just delivered. When Faust delivers nothing more of
a partition the record says is unfinished, `processors.input_watchdog` makes
it read the partition again.

Why: after a worker restarts, faust-streaming 0.15 can hand an agent a
partition's messages from past the committed offset while it recovers its
tables, and its offset-gap logic then commits past the messages it skipped;
it can also stop delivering a partition altogether. The crash test
(bench/chaos.py) saw enrollments, timers and actions lost for good that
way. An agent that checks each message against its own record notices the
jump and processes the skipped messages itself, in order, before the one
delivered. A message at or before the record is a re-delivery (a crash, or an
operator's `partitions replay`) and is processed again as before: the
learner processor re-sends its stored outputs or knows it decided it.

When the record moves matters as much. The local store keeps every write
at once, also those whose changelog record and whose outputs a crash then
loses; a record saying "done" before they reached Kafka would hide that
loss for good (the input is never processed again, and a worker that
rebuilds from the changelog holds the state from before it). So `handled`
moves the record only once the broker has acknowledged every send the input
made: its outputs and the changelog records of its table writes
(`processors.tracked_table`). That is checked again at the partition's next
message and every second by the watchdog, so nobody waits on it.

The record is written at most every `RECORD_EVERY_SECONDS` per partition
from the stream (and by the watchdog every second), not once per input: a
record is a table write and a changelog record, as dear as the input's own
state, and one that lags a little only means a few more inputs processed
again after a crash, as re-deliveries (the learner processor re-sends their
stored outputs). It never runs ahead of what is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from processors import metrics
from processors.config import Settings
from processors.tracked_table import TrackedTable

log = logging.getLogger(__name__)
_KEY_PREFIX = b"\x00next-offset|"  # sorts before every learner and timer key, matches none
RECORD_EVERY_SECONDS = 0.1


def _further(a: int | None, b: int | None) -> int | None:
    # A partition handed over and back: another worker may have recorded more since.
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True)
class ReadAgain:
    """A message read straight from Kafka, shaped like a Faust event and its message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    timestamp: float | None = None  # seconds, as Faust gives a message's

    @property
    def message(self) -> "ReadAgain":
        return self


class InputPositions:
    """The record of one agent: `table` holds it, `topics` are the agent's (co-partitioned) inputs,
    and the agent writes only to `table` and `other_tables` (each a `TrackedTable`)."""

    def __init__(self, table: TrackedTable, settings: Settings, topics: tuple[str, ...],
                 other_tables: tuple[TrackedTable, ...] = (), monotonic=time.monotonic):
        self.table = table
        self._tables = (table, *other_tables)
        self.settings = settings
        self.topics = topics
        self._monotonic = monotonic
        self._handled: dict[tuple[str, int], int] = {}  # next offset handled in this process
        self._unconfirmed: dict[int, deque] = defaultdict(deque)  # partition -> (topic, offset, sends)
        self._confirmed_at: dict[int, float] = {}  # partition -> when the stream last recorded it

    def _key(self, topic: str, partition: int) -> bytes:
        return _KEY_PREFIX + f"{topic}/{partition}".encode()

    def _recorded_here(self, topic: str, partition: int) -> int | None:
        """The record, inside stream iteration (the table reads the current partition)."""
        raw = self.table.get(self._key(topic, partition))
        return int(raw) if raw is not None else None

    def recorded(self, topic: str, partition: int) -> int | None:
        """The record read outside stream iteration, from the partition's local store."""
        store = self.table.data._dbs.get(partition)  # RocksDB, one per partition held here
        raw = store.get(self._key(topic, partition)) if store is not None else None
        return int(raw) if raw is not None else None

    def progress(self, topic: str, partition: int) -> int | None:
        """The next offset to process: what this process handled or the record, whichever is further."""
        return _further(self._handled.get((topic, partition)), self.recorded(topic, partition))

    def expected(self, message) -> int | None:
        key = (message.topic, message.partition)
        return _further(self._handled.get(key), self._recorded_here(*key))

    async def ahead_of(self, message) -> list[ReadAgain]:
        """The partition's messages from the expected offset up to `message`, if Faust skipped any.

        A partition without a record yet starts at its first message still in Kafka.
        """
        self._confirm(message.partition)
        handled = self._handled.get((message.topic, message.partition))
        if handled is not None and handled >= message.offset:
            return []  # the next message, or one delivered again: no need to read the record
        expected = self.expected(message)
        if (expected if expected is not None else 0) >= message.offset:
            return []
        missed = await self._read(message.topic, message.partition, expected, message.offset)
        if missed:
            log.warning("%s/%d: offsets %d to %d were skipped before %d; processing them first",
                        message.topic, message.partition, missed[0].offset, missed[-1].offset, message.offset)
        return missed

    async def process(self, event, handle) -> None:
        """`handle` every message Faust skipped before `event`, then `event`, in offset order,
        recording each with the sends `handle` returns. Each item is a Faust event or a
        `ReadAgain` (both have `.message`)."""
        for item in await self.ahead_of(event.message) + [event]:
            self.handled(item.message, await handle(item))
            metrics.count("automations_inputs_total", topic=item.message.topic)

    def _write(self, topic: str, partition: int, offset: int) -> None:
        """Inside stream iteration: the table writes to the current partition."""
        recorded = self._recorded_here(topic, partition)
        if recorded is None or offset > recorded:
            self.table[self._key(topic, partition)] = str(offset).encode()

    def handled(self, message, sends: list[asyncio.Future]) -> None:
        """`message` is processed; record it once the broker has acknowledged `sends` (its
        outputs) and the changelog records of the agent's table writes since the last input."""
        for table in self._tables:
            sends = sends + table.take_changelog_sends()
        self._mark_handled(message)
        self._unconfirmed[message.partition].append((message.topic, message.offset, sends))
        self._confirm(message.partition)

    def _mark_handled(self, message) -> None:
        key = (message.topic, message.partition)
        self._handled[key] = max(self._handled.get(key, 0), message.offset + 1)

    def _acknowledged(self, partition: int) -> dict[str, int]:
        """Take, in order, the inputs of `partition` whose outputs the broker has all acknowledged."""
        pending = self._unconfirmed[partition]
        newest: dict[str, int] = {}
        while pending and all(send.done() and not send.exception() for send in pending[0][2]):
            topic, offset, _ = pending.popleft()
            newest[topic] = offset + 1
        return newest

    def _confirm(self, partition: int) -> None:
        """Inside stream iteration, at most every `RECORD_EVERY_SECONDS` per partition."""
        now = self._monotonic()
        if now - self._confirmed_at.get(partition, float("-inf")) < RECORD_EVERY_SECONDS:
            return
        self._confirmed_at[partition] = now
        for topic, offset in self._acknowledged(partition).items():
            self._write(topic, partition, offset)

    def confirm_held(self, held: set[int]) -> None:
        """`_confirm` outside stream iteration (the watchdog), so the last input of a burst
        is recorded too: written as the table would, to the partition's store and changelog."""
        for partition in [p for p in self._unconfirmed if p in held]:
            for topic, offset in self._acknowledged(partition).items():
                key, recorded = self._key(topic, partition), self.recorded(topic, partition)
                if recorded is None or offset > recorded:
                    value = str(offset).encode()
                    self.table.data._db_for_partition(partition).put(key, value)
                    self.table.send_changelog(partition, key, value)

    async def _read(self, topic: str, partition: int, start: int | None, stop: int) -> list[ReadAgain]:
        tp = TopicPartition(topic, partition)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            if start is None:
                start = (await consumer.beginning_offsets([tp]))[tp]
            if start >= stop:
                return []
            consumer.seek(tp, start)
            missed: list[ReadAgain] = []
            while await consumer.position(tp) < stop:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    if start <= record.offset < stop:
                        missed.append(
                            ReadAgain(topic, partition, record.offset, record.key, record.value, tuple(record.headers or ()),
                                      record.timestamp / 1000 if record.timestamp is not None else None)
                        )
            return missed
        finally:
            await consumer.stop()
