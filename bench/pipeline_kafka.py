"""Kafka plumbing of the pipeline benchmark (no engine logic).

Owns: producing pre-encoded records fast and at a steady rate, a consumer
group's progress on some topics (committed offsets against end offsets, the
way an operator reads lag), `Tail`, which follows topics from their end
and hands every record to a callback with the moment it arrived, and
creating and deleting the benchmark's own topics. The bare passthrough the
worker is compared with uses the worker's own client (bench/pipeline_passthrough.py).

The load of the latency phases (`send_steadily`) and the reader of their answers (`Tail`)
use confluent-kafka (librdkafka, the worker's client) on threads of their own: what this
process spends per record is then a small part of the machine next to the worker and the
broker it measures (with aiokafka, pure Python, this process took about as much CPU as the
worker at half the worker's rate).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka import TopicPartition as KafkaPartition

from processors.config import Settings
from processors.kafka_io import Record

Progress = Callable[[int], None]  # called with the count done since the last call


async def produce_all(settings: Settings, topic: str, records: Sequence[tuple[str, bytes]], advance: Progress) -> float:
    """Send every (key, value) at once and wait for the broker's acknowledgements; returns seconds."""
    return await asyncio.to_thread(_produce_all, settings, topic, records, advance)


def _produce_all(settings: Settings, topic: str, records: Sequence[tuple[str, bytes]], advance: Progress) -> float:
    producer = steady_producer(settings, topic)
    failures: list[KafkaError] = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(error)

    began = time.perf_counter()
    for start in range(0, len(records), 5_000):
        chunk = records[start:start + 5_000]
        for key, value in chunk:
            while True:
                try:
                    producer.produce(topic, value, key.encode(), on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.01)
        producer.poll(0)
        advance(len(chunk))
    if producer.flush(120) or failures:
        raise RuntimeError(f"records not acknowledged: {failures[:3]}")
    return time.perf_counter() - began


def steady_producer(settings: Settings, topic: str) -> Producer:
    """A producer as an application's would be: acks=all, librdkafka's default linger of 5 ms,
    keys partitioned as every Kafka client but librdkafka does; connected, with the topic's
    metadata, before it returns (the clock starts after). Not idempotent: created as the clock
    started, an idempotent one held a phase's first few hundred ms of records until it had
    connected and fetched its producer id (a p99 of 500 ms where the copies took 25 ms)."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "acks": "all", "linger.ms": 5,
                         "partitioner": "murmur2_random"})
    producer.list_topics(topic, timeout=30)
    return producer


async def send_steadily(
    settings: Settings, topic: str, records: Iterable[tuple[str, bytes]], rate: float,
    sent_at: Callable[[int, float], None],
) -> float:
    """Send record n at `start + n / rate` (never in a burst to catch up), on a thread of its
    own; reports each send's wall time (epoch seconds) through `sent_at(n, t)`; returns the
    achieved rate once every record is acknowledged."""
    return await asyncio.to_thread(_send_steadily, settings, topic, records, rate, sent_at)


def _send_steadily(settings: Settings, topic: str, records: Iterable[tuple[str, bytes]], rate: float,
                   sent_at: Callable[[int, float], None]) -> float:
    producer = steady_producer(settings, topic)
    failures: list[KafkaError] = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(error)

    began = time.perf_counter()
    count = 0
    for count, (key, value) in enumerate(records, start=1):
        delay = began + (count - 1) / rate - time.perf_counter()
        if delay > 0:  # at least a millisecond: at a few thousand a second, a wake-up sends what came due
            time.sleep(max(delay, 0.001))
        now = time.time()
        sent_at(count - 1, now)
        producer.produce(topic, value, key.encode(), timestamp=int(now * 1000), on_delivery=delivered)
        producer.poll(0)
    if producer.flush(60) or failures:
        raise RuntimeError(f"records not acknowledged: {failures[:3]}")
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
    there yet. `key_prefix`: only records whose key starts so are decoded and handed on
    (the rest cost a bytes comparison). Runs on a thread of its own; `on_record` is called there."""

    def __init__(self, settings: Settings, topics: list[str], on_record: Callable[[Record, float], None],
                 key_prefix: str | None = None):
        self.settings, self.topics, self.on_record = settings, topics, on_record
        self.key_prefix = key_prefix.encode() if key_prefix is not None else None
        self.consumer = Consumer({
            "bootstrap.servers": settings.bootstrap_servers, "group.id": "pipeline-bench-tail",
            "enable.auto.commit": False, "isolation.level": "read_committed", "fetch.wait.max.ms": 50,
            "enable.partition.eof": False,
        })
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> "Tail":
        await asyncio.to_thread(self._assign_at_end)
        self._thread = threading.Thread(target=self._run, name="bench-tail", daemon=True)
        self._thread.start()
        return self

    def _assign_at_end(self) -> None:
        metadata = self.consumer.list_topics(timeout=30)
        tps = []
        for topic in self.topics:
            for partition in sorted(metadata.topics[topic].partitions):
                # The end as of now (read_committed: the last stable offset), so records sent after start() are all seen.
                _, high = self.consumer.get_watermark_offsets(KafkaPartition(topic, partition), timeout=30)
                tps.append(KafkaPartition(topic, partition, high))
        self.consumer.assign(tps)

    def _run(self) -> None:
        prefix, on_record = self.key_prefix, self.on_record
        while not self._stopping.is_set():
            # `consume` alone waits out its whole timeout unless it fills: the first record, then what else is there.
            first = self.consumer.poll(0.2)
            if first is None:
                continue
            arrived = time.time()
            for m in (first, *self.consumer.consume(5000, timeout=0)):
                if m.error() is not None:
                    continue
                key = m.key()
                if prefix is not None and (key is None or not key.startswith(prefix)):
                    continue
                on_record(Record(m.topic(), m.partition(), m.offset(), key.decode() if key is not None else None,
                                 m.value(), m.timestamp()[1]), arrived)

    async def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        self.consumer.close()


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
