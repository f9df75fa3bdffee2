"""The API server's reading of Kafka: definitions, run status, receipts.

Owns `TopicFeed`, one consumer (no group: every API server reads
everything) over all partitions of one topic, from its start or its end,
handing every record to a callback, knowing when it has caught up with the
end offsets it saw at start, and able to rewind partitions to their start
while it runs (a projections rebuild, with progress). The views it feeds
live in `api.views`; the run-status feed hands whole batches of a partition
to the projector (`handle_batch`) and starts where the projections' store
says the fold stopped (`start_at`), not at the topic's start. Whatever asks
the store (`start_at`, `on_rewind`'s delete of a partition's rows,
`handle_batch`) runs off the event loop: a rebuild of millions of rows must
not stop the server answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from processors import schema_registry
from processors.config import Settings
from processors.kafka_io import BrokerUnavailable, Record, record_of
from projections.fold_reads import fold_consumer_options
from projections.projector import FoldedRecord
from projections.store import OffsetMoved

log = logging.getLogger(__name__)


@dataclass
class Rewind:
    partitions: list[int]
    done: asyncio.Future


class TopicFeed:
    def __init__(
        self,
        settings: Settings,
        topic: str,
        handle: Callable[[Record], None],
        from_start: bool = True,
        on_rewind: Callable[[list[int]], Awaitable[None]] | None = None,
        handle_batch: Callable[[int, list[FoldedRecord]], Awaitable[None]] | None = None,
        start_at: Callable[[], dict[int, int]] | None = None,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self._handle = handle
        self._from_start = from_start
        self._on_rewind = on_rewind
        self._handle_batch = handle_batch
        self._start_at = start_at
        self._batch_records = settings.fold_batch if handle_batch is not None else 2000
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._rewinds: asyncio.Queue[Rewind] = asyncio.Queue()
        self.caught_up = asyncio.Event()
        self.partitions: list[int] = []
        self.positions: dict[int, int] = {}  # next offset to hand on, per partition
        self.targets: dict[int, int] = {}  # end offsets when reading (or rewinding) began
        self.rewinding: set[int] = set()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._from_start else "latest",
            group_id=None,
            # Workers write run status and receipts in transactions: an aborted one is never shown.
            isolation_level="read_committed",
            # A feed that folds batches into the store reads them as large as the store takes.
            **(fold_consumer_options(self.settings) if self._handle_batch is not None else {}),
        )
        try:
            await consumer.start()
        except KafkaConnectionError as error:
            await consumer.stop()
            raise BrokerUnavailable(
                f"no Kafka broker answers at {self.settings.bootstrap_servers}: {error.__class__.__name__}"
            ) from None
        self._consumer = consumer
        partitions = consumer.partitions_for_topic(self.topic)
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                await asyncio.sleep(0.5)
        self.partitions = sorted(partitions)
        tps = [TopicPartition(self.topic, p) for p in self.partitions]
        consumer.assign(tps)
        if self._from_start:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        await self._resume(tps)
        for tp in tps:  # resolve the positions now: nothing written after start is missed
            self.positions[tp.partition] = await consumer.position(tp)
        ends = await consumer.end_offsets(tps)
        self.targets = {tp.partition: ends[tp] for tp in tps}
        self._check_caught_up()
        self._task = asyncio.create_task(self._run(), name=f"feed {self.topic}")
        self._task.add_done_callback(self._stopped)

    async def _resume(self, tps: list[TopicPartition]) -> None:
        """Seeks the partitions whose fold is stored to where it stopped."""
        if self._start_at is None:
            return
        stored = await asyncio.to_thread(self._start_at)
        for tp in tps:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
                self.positions[tp.partition] = stored[tp.partition]

    @property
    def running(self) -> bool:
        """Whether the feed still reads (a task that ended never reads again: /ready says so)."""
        return self._task is not None and not self._task.done()

    def _stopped(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Nothing awaits this task until shutdown; without this its end would go unseen.
            log.error("%s: the feed stopped: %r", self.topic, task.exception())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass
        if self._consumer is not None:
            await self._consumer.stop()

    def _check_caught_up(self) -> None:
        behind = [p for p in self.partitions if self.positions.get(p, 0) < self.targets.get(p, 0)]
        if not behind:
            self.rewinding.clear()
            self.caught_up.set()

    async def rewind(self, partitions: list[int]) -> None:
        """Read `partitions` again from their start (after `on_rewind` cleared their views)."""
        done = asyncio.get_running_loop().create_future()
        await self._rewinds.put(Rewind(partitions, done))
        await done

    def progress(self, partitions: list[int] | None = None) -> tuple[int, int]:
        """(records read, records to read) of `partitions`: up to their targets while catching
        up, up to where the feed has read once past them (the topic grows after the start)."""
        chosen = self.partitions if partitions is None else partitions
        ends = {p: max(self.positions.get(p, 0), self.targets.get(p, 0)) for p in chosen}
        return sum(min(self.positions.get(p, 0), end) for p, end in ends.items()), sum(ends.values())

    async def _apply_rewind(self, request: Rewind) -> None:
        consumer = self._consumer
        tps = [TopicPartition(self.topic, p) for p in request.partitions]
        if self._on_rewind is not None:
            # /ready says so, and the progress counts from zero, while the rows are deleted.
            self.rewinding |= set(request.partitions)
            self.caught_up.clear()
            self.positions.update(dict.fromkeys(request.partitions, 0))
            log.info("%s: rebuilding partitions %s: clearing their views", self.topic, request.partitions)
            await self._on_rewind(request.partitions)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            self.positions[tp.partition] = await consumer.position(tp)
            self.targets[tp.partition] = ends[tp]
        self.rewinding |= set(request.partitions)
        self.caught_up.clear()
        self._check_caught_up()
        request.done.set_result(None)

    async def _hand_batch(self, tp: TopicPartition, records: list) -> None:
        # aiokafka's messages as they are: the fold reads their partition, offset and value.
        try:
            await self._handle_batch(tp.partition, records)
        except OffsetMoved:
            # Another folder of the store (a projector, the CLI catching the store up before it
            # answers) folded these records first: read on from where it stopped.
            log.info("%s/%d: the store's offset moved past %d; reading on from there", tp.topic, tp.partition, records[0].offset)
            await self._resume([tp])
            return
        except Exception:  # noqa: BLE001 - the batch is read again from where the fold stopped
            log.exception("%s/%d: a batch of %d from offset %d not folded; reading it again", tp.topic, tp.partition,
                          len(records), records[0].offset)
            await asyncio.sleep(1.0)  # a store that is away: not a busy loop
            await self._resume([tp])
            return
        self.positions[tp.partition] = records[-1].offset + 1

    async def _run(self) -> None:
        # Records in the Confluent wire format need their schema ids: the registry answers first.
        await schema_registry.keep_trying()
        consumer = self._consumer
        while True:
            while not self._rewinds.empty():
                request = self._rewinds.get_nowait()
                try:
                    await self._apply_rewind(request)
                except Exception as error:  # noqa: BLE001 - the feed goes on; the caller hears why
                    log.exception("%s: rewinding %s failed", self.topic, request.partitions)
                    if not request.done.done():
                        request.done.set_exception(error)
            batch = await consumer.getmany(timeout_ms=200, max_records=self._batch_records)
            for tp, messages in batch.items():
                if self._handle_batch is not None:
                    await self._hand_batch(tp, messages)
                    continue
                for message in messages:
                    record = record_of(message)
                    try:
                        self._handle(record)
                    except Exception:  # noqa: BLE001 - one bad record must not stop the views
                        log.exception("%s/%d@%d not applied", message.topic, message.partition, message.offset)
                    self.positions[tp.partition] = message.offset + 1
            if not self.caught_up.is_set():
                # Offsets can have gaps (compaction, transaction markers): ask where we are.
                for partition in self.partitions:
                    if self.positions.get(partition, 0) < self.targets.get(partition, 0):
                        position = await consumer.position(TopicPartition(self.topic, partition))
                        self.positions[partition] = max(self.positions.get(partition, 0), position)
                self._check_caught_up()
