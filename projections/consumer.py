"""`automations projector run`: the run-status topic folded into the store by a consumer group.

Owns `run_projector`: one member of the consumer group AUTOMATIONS_PROJECTOR_GROUP
(default `<app id>-projector`); the broker shares the partitions among the
members, so projecting scales out like the workers, and a member that dies
leaves its partitions to the others. Each assigned partition is read from
the offset the store holds (Kafka's committed offsets are not used: the
store's move in the same transaction as the rows), each batch folded by
`projections.projector.Projector`. A batch the store refuses (another member
or a rebuild moved the offset) or cannot take (the database away) is read
again from the stored offset. Progress is logged every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from processors.config import Settings
from projections.fold_reads import fold_consumer_options
from projections.projector import Projector
from projections.store import ProjectionStore, projections_url

log = logging.getLogger(__name__)
PROGRESS_EVERY = 5.0
RETRY_AFTER = 1.0  # a database that is away: try again, without a busy loop


class _Resume(ConsumerRebalanceListener):
    def __init__(self, consumer: AIOKafkaConsumer, projector: Projector) -> None:
        self.consumer, self.projector = consumer, projector

    async def on_partitions_revoked(self, revoked) -> None:
        pass

    async def on_partitions_assigned(self, assigned) -> None:
        await resume(self.consumer, self.projector, list(assigned))
        log.info("projecting partitions %s", sorted(tp.partition for tp in assigned))


async def resume(consumer: AIOKafkaConsumer, projector: Projector, tps: list[TopicPartition]) -> None:
    stored = await asyncio.to_thread(projector.start_offsets)
    for tp in tps:
        if tp.partition in stored:
            consumer.seek(tp, stored[tp.partition])
        else:
            await consumer.seek_to_beginning(tp)


async def run_projector(settings: Settings, group: str, url: str | None = None, rebuild: bool = False,
                        stop: asyncio.Event | None = None) -> None:
    store = ProjectionStore(url or projections_url(settings.topics.prefix))
    await asyncio.to_thread(store.migrate)
    topic = settings.topics.run_status
    projector = Projector(store, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",  # an aborted transaction's run status is never folded
        session_timeout_ms=int(settings.session_timeout * 1000),
        **fold_consumer_options(settings),
    )
    await consumer.start()
    try:
        if rebuild:
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
            await asyncio.to_thread(projector.reset, partitions)
            log.info("rebuilding partitions %s from offset 0", partitions)
        consumer.subscribe([topic], listener=_Resume(consumer, projector))
        await _fold_forever(consumer, projector, settings.fold_batch, stop or asyncio.Event())
    finally:
        await consumer.stop()
        store.close()


async def _fold_forever(consumer: AIOKafkaConsumer, projector: Projector, batch_records: int,
                        stop: asyncio.Event) -> None:
    folded, report_at = 0, time.monotonic() + PROGRESS_EVERY
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=200, max_records=batch_records)
        for tp, records in batch.items():  # aiokafka's messages: the fold reads their partition, offset and value
            try:
                await asyncio.to_thread(projector.fold, tp.partition, records)
            except Exception:  # noqa: BLE001 - read again from where the store says the fold is
                log.exception("%s/%d: a batch from offset %d not folded; reading it again", tp.topic, tp.partition, records[0].offset)
                await asyncio.sleep(RETRY_AFTER)
                await resume(consumer, projector, [tp])
                continue
            folded += len(records)
        if time.monotonic() >= report_at:
            log.info("%d run-status records folded; at offsets %s", folded, dict(sorted(projector.stored.items())))
            report_at = time.monotonic() + PROGRESS_EVERY
