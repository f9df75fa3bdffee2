"""Bringing the projections' store up to the run-status topic's end, once: for the CLI.

Owns `catch_up`: migrates the store (making it if new), reads each
partition from the offset the store holds (from its start when it holds
none) up to the topic's end offsets of the moment, folds every batch with
`projections.projector.Projector` (one transaction with the partition's
offset, as the API server's fold), and returns when the store holds
everything the topic held when it was called. A store that is already there
costs a look at the offsets and one empty read.

Another folder may fold the same partitions meanwhile (an API server on the
same store, `automations projector run`): a batch the store refuses because
the offset moved (`OffsetMoved`) is read on from where the store now says
the fold is. The stored offsets are read before the end offsets, so a stored
offset past the end is no other folder's progress: it is the fold of an
earlier topic of that name (deleted and created again, a fresh broker under a
kept store), and that partition is cleared and folded from its start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError, KafkaError

from processors.config import Settings
from processors.kafka_io import broker_unavailable, drop_positions_at_end, topic_partitions
from projections.fold_reads import fold_consumer_options
from projections.projector import Projector
from projections.store import OffsetMoved, ProjectionStore


@dataclass
class CaughtUp:
    behind: int  # records the store did not hold when called (at most: the end offsets count markers too)
    folded: int = 0  # records read and folded now
    cleared: list[int] = field(default_factory=list)  # partitions of an earlier topic, folded again from offset 0


async def catch_up(
    settings: Settings,
    store: ProjectionStore,
    topic: str,
    report: Callable[[CaughtUp], None] | None = None,
    idle_timeout: float = 10.0,
) -> CaughtUp:
    """Folds `topic` into `store` up to its end offsets as they are now; what it did."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
        isolation_level="read_committed",  # an aborted transaction's run status is never folded
        **fold_consumer_options(settings),  # batches as large as the API server's feed folds
    )
    try:
        await consumer.start()
    except KafkaConnectionError as error:
        await consumer.stop()
        raise broker_unavailable(settings, error) from None
    try:
        tps = await topic_partitions(consumer, settings, topic)
        await asyncio.to_thread(store.migrate)  # a new store is made here, an old one brought up to date
        projector = await asyncio.to_thread(Projector, store, topic)  # the stored offsets: before the ends
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        cleared = [tp.partition for tp in tps if projector.stored.get(tp.partition, 0) > ends[tp]]
        if cleared:
            await asyncio.to_thread(projector.reset, cleared)
        progress = CaughtUp(behind=sum(max(0, ends[tp] - projector.stored.get(tp.partition, 0)) for tp in tps), cleared=cleared)
        for tp in tps:
            consumer.seek(tp, projector.stored.get(tp.partition, 0))
        await _fold_to(consumer, projector, ends, progress, report or (lambda _: None), idle_timeout, topic,
                       settings.fold_batch)
        return progress
    finally:
        await consumer.stop()


async def _fold_to(consumer: AIOKafkaConsumer, projector: Projector, ends: dict, progress: CaughtUp,
                   report: Callable[[CaughtUp], None], idle_timeout: float, topic: str, batch_records: int) -> None:
    remaining = {tp for tp in ends if projector.stored.get(tp.partition, 0) < ends[tp]}
    loop = asyncio.get_running_loop()
    progressed = loop.time()
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=200, max_records=batch_records)
        if not batch:
            await drop_positions_at_end(consumer, remaining, ends)
            if remaining and loop.time() - progressed > idle_timeout:
                raise KafkaError(f"timed out reading {topic} to its end")
            continue
        progressed = loop.time()
        for tp, records in batch.items():  # aiokafka's messages: the fold reads their partition, offset and value
            try:
                await asyncio.to_thread(projector.fold, tp.partition, records)
            except OffsetMoved:  # another folder got there first: on from where it is
                consumer.seek(tp, projector.stored.get(tp.partition, 0))
                if projector.stored.get(tp.partition, 0) >= ends[tp]:
                    remaining.discard(tp)
                continue
            progress.folded += len(records)
            if records[-1].offset + 1 >= ends[tp]:
                remaining.discard(tp)
        report(progress)
