"""Bringing a partition's store up to its changelog before the partition is processed.

Owns `restore`: read the store's changelog partition (`read_committed`, so
aborted transactions never reach the store) from the store's checkpoint to
the partition's last stable offset, hand every record to the processor's
`restored` (which writes it and rebuilds what derives from it), and commit
in chunks with the checkpoint moved along, so a restore cut short resumes
where it stopped. A warm store (checkpoint at the end) costs one offsets
request; an empty data folder restores everything. A checkpoint past the
changelog's end means the changelog was deleted and created again: the store
no longer matches it and is wiped first.
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


def restore(
    store: PartitionStore,
    restored: Callable[[PartitionStore, bytes, bytes | None], None],
    consumer: Consumer,
    topic: str,
    timeout: float = 30.0,
) -> int:
    """Restore `store` from partition `store.partition` of `topic`; returns the records applied."""
    partition = store.partition
    low, end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
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
