"""Bringing a partition's store up to its changelog before the partition is processed.

Owns the takeover of a partition, in its order: `stable_offsets` first waits
until the group's committed offsets are stable, then `restore` reads the
store's changelog partition (`read_committed`, so aborted transactions never
reach the store) from the store's checkpoint to the partition's end, hands
every record to the processor's `restored` (which writes it and rebuilds
what derives from it), and commits in chunks with the checkpoint moved
along, so a restore cut short resumes where it stopped. A warm store
(checkpoint at the end) costs one offsets request; an empty data folder
restores everything. A checkpoint past the changelog's end means the
changelog was deleted and created again: the store no longer matches it and
is wiped first.

Why that order and that end: a previous owner that froze (a zombie) may
have an open transaction whose offsets the group's coordinator already took.
Nothing fences that transaction any more; it ends when the zombie commits
it, or when the broker aborts it after its timeout. Its changelog records
sit past the changelog's last stable offset, so a restore that stopped there
would miss them, and if the zombie then commits, the new owner decides from
a state the changelog no longer has (the failover test's frozen worker: one
batch of ten timers fired twice). A `read_committed` consumer's offset fetch
waits for such a transaction (the broker answers UNSTABLE_OFFSET_COMMIT until
it ends), and the restore reads to the high watermark, which it passes only
once every transaction before it has ended.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from processors.stream.state_store import PartitionStore

log = logging.getLogger(__name__)

CHUNK = 5_000
PROGRESS_EVERY_SECONDS = 5.0


def stable_offsets(
    consumer: Consumer,
    partitions: list[TopicPartition],
    timeout: float,
    give_up_after: float,
    stopping: Callable[[], bool],
) -> dict[tuple[str, int], int] | None:
    """The group's committed offsets of `partitions` (`consumer` is `read_committed`), once no
    transaction holds them open; partitions with none are left out. None if `stopping` first;
    the last error raised after `give_up_after` seconds (a broker away, not a transaction: the
    broker aborts those after their timeout)."""
    began = time.monotonic()
    while True:
        try:
            found = consumer.committed(partitions, timeout=timeout)
        except KafkaException as error:
            waited = time.monotonic() - began
            if stopping():
                return None
            if waited > give_up_after:
                raise
            log.warning("no stable committed offsets for %d partition(s) after %.0fs (%s): waiting, as a previous "
                        "owner's open transaction holds them until it commits or the broker aborts it",
                        len(partitions), waited, error.args[0].str())
            continue
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.error is None and tp.offset >= 0}


def restore(
    store: PartitionStore,
    restored: Callable[[PartitionStore, bytes, bytes | None], None],
    consumer: Consumer,
    topic: str,
    ends: Consumer,
    timeout: float = 30.0,
) -> int:
    """Restore `store` from partition `store.partition` of `topic`; returns the records applied.
    `consumer` reads (`read_committed`); `ends` (`read_uncommitted`) gives the high watermark."""
    partition = store.partition
    low, end = ends.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
    start = store.checkpoint
    if start is not None and start > end:
        log.warning("%s[%d]: the store's checkpoint %d is past the changelog's end %d (the topic was made "
                    "again); restoring from its start", topic, partition, start, end)
        store.wipe()
        start = None
    start = max(start or 0, low)
    if start >= end:
        return 0
    consumer.assign([TopicPartition(topic, partition, start)])
    applied, position = 0, start
    started = reported = progressed_at = time.monotonic()
    try:
        while position < end:
            messages = consumer.consume(CHUNK, timeout=0.05)
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                restored(store, message.key(), message.value())
                applied += 1
            # Transaction markers and aborted records are never delivered; the consumer's
            # position moves over them, so it is the measure of progress, not the last record.
            moved = max(position, _position(consumer, topic, partition))
            if moved > position:
                progressed_at = time.monotonic()
            elif time.monotonic() - progressed_at > timeout:
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"restoring {topic}[{partition}] stalled at {position}"))
            position = moved
            store.commit(position)
            if time.monotonic() - reported >= PROGRESS_EVERY_SECONDS:
                reported = time.monotonic()
                log.info("restoring %s[%d]: %d of %d records", topic, partition, position - start, end - start)
    finally:
        consumer.unassign()
    elapsed = time.monotonic() - started
    log.info("restored %s[%d]: %d records in %.1fs (%.0f records/s)", topic, partition, applied, elapsed,
             applied / elapsed if elapsed > 0 else 0.0)
    return applied


def _position(consumer: Consumer, topic: str, partition: int) -> int:
    (found,) = consumer.position([TopicPartition(topic, partition)])
    return found.offset if found.offset >= 0 else 0
