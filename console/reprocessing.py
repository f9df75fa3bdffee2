"""Reprocessing school events from a point: moving the workers' committed offsets back.

Why this way, and not by sending the records again: re-sent records would be
new records (new offsets) on the input topic, duplicates for every other
reader of it, and interleaved after live events. Moving the workers'
consumer group back makes the same records, at the same offsets, flow through
the learner processor again, in their original order. A learner's state is
never reset: each re-delivered input either finds its stored outputs (the
last inputs of each learner, `processors.learner_store`) and sends them
again byte for byte, or is recognised as decided before (the learner's
decided marks) and decides nothing. So no run starts twice, no new
idempotency key appears and no old event meets today's runs; outputs sent
again are exact duplicates, which the projections ignore and the platform
recognises by their idempotency keys.

The group must have no members (every worker stopped): Kafka refuses an
offset commit from outside a live group, and we check first to say so.
"""

from __future__ import annotations

from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from console.errors import CliError
from processors.config import Settings
from processors.kafka_io import BrokerUnavailable


async def _admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        await admin.start()
    except KafkaConnectionError as error:
        await admin.close()
        raise BrokerUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers}: {error}") from None
    return admin


async def _consumer(settings: Settings, group: str | None) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    try:
        await consumer.start()
    except KafkaConnectionError as error:
        await consumer.stop()
        raise BrokerUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers}: {error}") from None
    return consumer


async def live_members(settings: Settings, group: str) -> int:
    admin = await _admin(settings)
    try:
        (response,) = await admin.describe_consumer_groups([group])
        (described,) = response.to_object()["groups"]
        return len(described["members"])
    finally:
        await admin.close()


async def plan(
    settings: Settings,
    topic: str,
    partitions: list[int] | None,
    from_offset: int | None,
    from_time: datetime | None,
) -> dict[int, tuple[int, int]]:
    """partition -> (offset to start from, end offset now), for the chosen partitions."""
    consumer = await _consumer(settings, None)
    try:
        known = consumer.partitions_for_topic(topic)
        if not known:
            await consumer._client.force_metadata_update()
            known = consumer.partitions_for_topic(topic) or set()
        if not known:
            raise CliError(f"no topic {topic} on {settings.bootstrap_servers}")
        chosen = sorted(known) if partitions is None else partitions
        unknown = sorted(set(chosen) - known)
        if unknown:
            raise CliError(f"{topic} has partitions {sorted(known)}; no partition {unknown[0]}")
        tps = [TopicPartition(topic, p) for p in chosen]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        found = {}
        if from_time is not None:
            found = await consumer.offsets_for_times({tp: int(from_time.timestamp() * 1000) for tp in tps})
        result = {}
        for tp in tps:
            if from_time is not None:
                at = found.get(tp)
                offset = at.offset if at is not None else ends[tp]
            else:
                offset = from_offset or 0
            result[tp.partition] = (min(max(offset, starts[tp]), ends[tp]), ends[tp])
        return result
    finally:
        await consumer.stop()


async def move_group(settings: Settings, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit `offsets` for the (stopped) group: its next read of each partition starts there."""
    members = await live_members(settings, group)
    if members:
        raise CliError(
            f"consumer group {group} has {members} live member(s); stop every worker first "
            "(offsets of a running group cannot be moved)"
        )
    consumer = await _consumer(settings, group)
    try:
        tps = {TopicPartition(topic, p): offset for p, offset in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def committed(settings: Settings, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """The group's committed offset per partition (0 when it has none)."""
    admin = await _admin(settings)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
        return {tp.partition: max(0, offsets[tp].offset) if tp in offsets else 0 for tp in tps}
    finally:
        await admin.close()
