"""Kafka plumbing of the pipeline benchmark (aiokafka, no engine logic).

Owns: producing pre-encoded records fast and at a steady rate, a consumer
group's progress on some topics (committed offsets against end offsets, the
way an operator reads lag), `Tail`, which follows topics from their end
and hands every record to a callback with the moment it arrived, and
creating and deleting the benchmark's own topics. The bare passthrough the
worker is compared with uses the worker's own client (bench/pipeline_passthrough.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processors.config import Settings
from processors.kafka_io import Record, start_producer

Progress = Callable[[int], None]  # called with the count done since the last call


async def produce_all(settings: Settings, topic: str, records: Sequence[tuple[str, bytes]], advance: Progress) -> float:
    """Send every (key, value) and wait for the broker's acknowledgements; returns seconds."""
    producer = await start_producer(settings, linger_ms=5)
    began = time.perf_counter()
    try:
        for start in range(0, len(records), 5_000):
            chunk = records[start:start + 5_000]
            futures = [await producer.send(topic, key=key.encode(), value=value) for key, value in chunk]
            await asyncio.gather(*futures)
            advance(len(chunk))
    finally:
        await producer.stop()
    return time.perf_counter() - began


async def send_steadily(
    producer: AIOKafkaProducer, topic: str, records: Iterable[tuple[str, bytes]], rate: float,
    sent_at: Callable[[int, float], None],
) -> float:
    """Send record n at `start + n / rate` (never in a burst to catch up); reports each
    send's wall time (epoch seconds) through `sent_at(n, t)`; returns the achieved rate."""
    began = time.perf_counter()
    futures = []
    count = 0
    for count, (key, value) in enumerate(records, start=1):
        delay = began + (count - 1) / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.time()
        sent_at(count - 1, now)
        futures.append(await producer.send(topic, key=key.encode(), value=value, timestamp_ms=int(now * 1000)))
    await asyncio.gather(*futures)
    return count / max(time.perf_counter() - began, 1e-9)


class GroupProgress:
    """How far a consumer group has committed on some topics (every partition of each).

    The worker commits inside its transactions where its consumer stands, so on a
    transactional topic the committed offset reaches the end offset, markers included."""

    def __init__(self, settings: Settings, group: str, topics: list[str]) -> None:
        self.group, self.topics = group, topics
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
        self.partitions: list[TopicPartition] = []

    async def __aenter__(self) -> "GroupProgress":
        await self.admin.start()
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()
        self.partitions = [TopicPartition(topic, p) for topic in self.topics
                           for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def committed(self) -> int:
        offsets = await self.admin.list_consumer_group_offsets(self.group, partitions=self.partitions)
        return sum(max(offsets[tp].offset, 0) for tp in self.partitions if tp in offsets)

    async def lag(self, everywhere: bool = False) -> int:
        """Records not yet committed on the given topics; `everywhere`: also on every partition
        the group has committed on (the worker's agents read topics the benchmark does not name)."""
        offsets = {tp: meta.offset for tp, meta in (await self.admin.list_consumer_group_offsets(self.group)).items()}
        partitions = set(self.partitions) | (set(offsets) if everywhere else set())
        ends = await self.consumer.end_offsets(list(partitions))
        return sum(end - max(offsets.get(tp, 0), 0) for tp, end in ends.items())

    async def until_idle(self, quiet_seconds: float = 2.0, timeout: float = 600.0) -> None:
        """Until the group has committed every record, and still has `quiet_seconds` later."""
        deadline = time.monotonic() + timeout
        idle_since = None
        while time.monotonic() < deadline:
            if await self.lag(everywhere=True) > 0:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= quiet_seconds:
                return
            await asyncio.sleep(0.25)
        raise TimeoutError(f"group {self.group} still behind after {timeout:.0f} s")


class Tail:
    """Follows topics from their end as of `start()`, calling `on_record(record, arrived)`
    (arrived: epoch seconds) for each record, until `stop()`. It reads committed records
    only, as the worker's downstream readers do: a record of an open transaction is not
    there yet."""

    def __init__(self, settings: Settings, topics: list[str], on_record: Callable[[Record, float], None]):
        self.settings, self.topics, self.on_record = settings, topics, on_record
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=50, isolation_level="read_committed",
        )
        self.task: asyncio.Task | None = None

    async def start(self) -> "Tail":
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in self.topics for p in sorted(self.consumer.partitions_for_topic(t))]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the positions now, so records sent after start() are all seen
            await self.consumer.position(tp)
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            arrived = time.time()
            for messages in batches.values():
                for m in messages:
                    key = m.key.decode() if m.key is not None else None
                    self.on_record(Record(m.topic, m.partition, m.offset, key, m.value, m.timestamp), arrived)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        await self.consumer.stop()


async def total_end_offset(settings: Settings, topic: str) -> int:
    """The sum of a topic's end offsets: how many records it has ever had."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def create_topic(settings: Settings, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, settings.replication_factor)])
    finally:
        await admin.close()


async def delete_topics_with_prefix(settings: Settings, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()
