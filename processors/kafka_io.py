"""Plain aiokafka plumbing shared by the worker, the CLI and the tests.

Owns: creating the project's topics up front (never auto-created), producing
keyed records, and reading a topic from the beginning up to its end offsets at
the moment of the call. No engine logic lives here.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from processors.config import Settings


class BrokerUnavailable(Exception):
    """The broker did not answer; the message says where we looked."""


class MissingTopic(Exception):
    """A topic the project reads or writes does not exist (no worker has created the topics yet)."""


class PartitionsMismatch(Exception):
    """Existing topics have another partition count than the settings give them."""


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp_ms: int


def missing_topic(settings: Settings, topic: str) -> MissingTopic:
    return MissingTopic(
        f"topic {topic} does not exist at {settings.bootstrap_servers}; a worker creates "
        "the project's topics when it starts (`automations worker`)"
    )


def broker_unavailable(settings: Settings, error: Exception) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"no Kafka broker answers at {settings.bootstrap_servers} "
        f"(start one with `automations broker start`): {error.__class__.__name__}"
    )


# The stream task's stores (processors.stream_host); their changelog topics are
# created up front with the others, compacted: one record per key is a store.
TABLES = ("learners", "live-runs")
COMPACTED = {"cleanup.policy": "compact"}
# Kept for good, not Kafka's default 7 days: the projections fold run status from
# offset 0 (a run may wait 365 days, and times executed counts every run ever
# started), and a dead letter is the only copy of refused input an operator has.
KEPT_FOREVER = {"retention.ms": "-1"}


def topic_specs(settings: Settings) -> list[NewTopic]:
    """Every topic the project uses, with its partition count and cleanup policy."""
    rf, partitions = settings.replication_factor, settings.partitions
    kept = {settings.topics.run_status: KEPT_FOREVER}
    specs = [NewTopic(name, partitions, rf, topic_configs=kept.get(name, {})) for name in settings.topics.learner_scoped()]
    specs.append(NewTopic(settings.topics.definitions, 1, rf, topic_configs=COMPACTED))
    specs.append(NewTopic(settings.topics.dead_letter, partitions, rf, topic_configs=KEPT_FOREVER))
    specs.append(NewTopic(settings.topics.automation_runs, partitions, rf))
    specs.extend(
        NewTopic(f"{settings.app_id}-{table}-changelog", partitions, rf, topic_configs=COMPACTED)
        for table in TABLES
    )
    return specs


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 30.0) -> None:
    """New topics answer NotLeaderForPartition for a moment; wait that out here."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        described = await admin.describe_topics(names)
        if all(
            topic.get("error_code", 0) == 0
            and topic["partitions"]
            and all(p.get("leader", -1) >= 0 for p in topic["partitions"])
            for topic in described
        ):
            return
        await asyncio.sleep(0.2)
    raise KafkaError(f"topics {names} got no partition leaders within {timeout:.0f}s")


async def _check_partitions(admin: AIOKafkaAdminClient, specs: list[NewTopic], settings: Settings) -> None:
    """A learner's records must sit in the same partition of every topic and changelog:
    a worker on topics of other counts than its own crashes its agents (`PartitionsMismatch`
    in Faust) and processes nothing, so it is refused before anything is created."""
    if not specs:
        return
    counts = {topic["topic"]: len(topic["partitions"]) for topic in await admin.describe_topics([s.name for s in specs])}
    wrong = [f"{spec.name} has {counts[spec.name]}" for spec in specs
             if spec.name in counts and counts[spec.name] != spec.num_partitions]
    if wrong:
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise PartitionsMismatch(
            f"{len(wrong)} topic(s) have another partition count than AUTOMATIONS_PARTITIONS={settings.partitions}: "
            f"{', '.join(wrong[:3])}{more}; set it to the count they were created with "
            "(it is set once, before the first worker)"
        )


@asynccontextmanager
async def _admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client of the broker, closed after use; no broker is `BrokerUnavailable`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        await admin.start()
    except KafkaConnectionError as error:
        raise broker_unavailable(settings, error) from None
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; returns the names it created."""
    async with _admin(settings) as admin:
        existing = set(await admin.list_topics())
        specs = topic_specs(settings)
        await _check_partitions(admin, [spec for spec in specs if spec.name in existing], settings)
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another worker created them first
            await _wait_for_leaders(admin, [spec.name for spec in missing])
        return [spec.name for spec in missing]


async def other_engines(settings: Settings) -> list[str]:
    """Consumer groups other than this worker's (`AUTOMATIONS_APP_ID`) that have committed
    offsets on the school-events topic: other engines deciding the same events."""
    async with _admin(settings) as admin:
        topic = settings.topics.school_events
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        found = []
        for group, protocol in await admin.list_consumer_groups():
            if group == settings.app_id or protocol not in ("consumer", ""):
                continue
            # Asked for named partitions, Kafka answers each, with offset -1 where the group has none.
            offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
            if any(committed.offset >= 0 for committed in offsets.values()):
                found.append(group)
        return sorted(found)


async def start_producer(settings: Settings, **options) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True, **options
    )
    try:
        await producer.start()
    except KafkaConnectionError as error:
        await producer.stop()
        raise broker_unavailable(settings, error) from None
    return producer


async def produce(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[str | None, bytes]],
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Send keyed records and wait until the broker has them all; returns the count."""
    producer = await start_producer(settings)
    try:
        # Topics are never auto-created; without this check a send waits out the
        # metadata timeout (about a minute) and fails with a bare error code.
        if (await producer.client.fetch_all_metadata()).partitions_for_topic(topic) is None:
            raise missing_topic(settings, topic)
        futures = [
            await producer.send(topic, key=key.encode() if key is not None else None, value=value, headers=headers)
            for key, value in records
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


def record_of(message) -> Record:
    """An aiokafka message as a `Record`."""
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        # Keys come from anyone who can write the topic: a dead letter keeps
        # the bytes it was given, UTF-8 or not.
        key=message.key.decode("utf-8", "replace") if message.key is not None else None,
        value=message.value,
        timestamp_ms=message.timestamp,
    )


async def topic_partitions(consumer: AIOKafkaConsumer, settings: Settings, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`, in order. A topic the broker does not know is an error: an
    empty answer would read as "nothing there" under a mistyped prefix."""
    partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        raise missing_topic(settings, topic)
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def drop_positions_at_end(consumer: AIOKafkaConsumer, remaining: set[TopicPartition],
                                ends: dict[TopicPartition, int]) -> None:
    """After an empty fetch, drop from `remaining` the partitions read to their end: the end may
    be past records never delivered (an aborted transaction, its markers), and the position
    moves over them."""
    for tp in list(remaining):
        if (await consumer.position(tp)) >= ends[tp]:
            remaining.discard(tp)


async def read_to_end(
    settings: Settings, topic: str, idle_timeout: float = 10.0
) -> AsyncIterator[Record]:
    """Yield every committed record of `topic` present when the call starts, oldest first per
    partition. Workers write in transactions: `read_committed` never shows an aborted one."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
        isolation_level="read_committed",
    )
    try:
        await consumer.start()
    except KafkaConnectionError as error:
        await consumer.stop()
        raise broker_unavailable(settings, error) from None
    try:
        tps = await topic_partitions(consumer, settings, topic)
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        loop = asyncio.get_running_loop()
        progressed = loop.time()
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=200)
            if not batch:
                await drop_positions_at_end(consumer, remaining, ends)
                if remaining and loop.time() - progressed > idle_timeout:
                    raise KafkaError(f"timed out reading {topic} to its end")
                continue
            progressed = loop.time()
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        continue
                    yield record_of(message)
                if (await consumer.position(tp)) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
