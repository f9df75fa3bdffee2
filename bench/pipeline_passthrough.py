"""The bare passthrough the worker is compared with, on the worker's own Kafka client.

Owns two consume -> produce loops with confluent-kafka, configured as the
stream task configures its clients (processors/stream/task.py): batches of up
to `batch` records, acks=all with idempotence, linger 2 ms, each record to
the same partition of the sink. `plain` commits the group's offsets every
second, as a bare at-least-once copier would; `exactly_once` does what the
worker's task does per batch without any engine work: one transaction with the
batch's records and its consumer offsets, read_committed. The ratio of the
worker's rate to these says what the engine costs over the client alone.

Both run in this process, blocking, while the worker idles.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from processors.stream.task import RETRY_BACKOFF_MS

Progress = Callable[[int], None]


def clients(bootstrap: str, group: str, transactional: bool) -> tuple[Consumer, Producer]:
    """A copier's consumer (of `group`) and producer, with the stream task's producer settings;
    transactional: a transaction per batch, read_committed."""
    producer_config = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 2,
                       "retry.backoff.ms": RETRY_BACKOFF_MS}
    if transactional:
        producer_config["transactional.id"] = f"{group}-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed" if transactional else "read_uncommitted",
    })
    return consumer, Producer(producer_config)


def copy(bootstrap: str, source: str, sink: str, total: int, advance: Progress, exactly_once: bool,
         batch: int = 1000, poll_timeout: float = 0.05, timeout: float = 600.0) -> float:
    """Copy `total` records of `source` to `sink`; returns the seconds from the first
    record fetched to the last one acknowledged (and its offsets committed)."""
    group = f"{sink}-group"
    consumer, producer = clients(bootstrap, group, exactly_once)
    if exactly_once:
        producer.init_transactions(30)
    consumer.subscribe([source])
    copied, began, committed_at = 0, None, time.perf_counter()
    deadline = time.monotonic() + timeout
    try:
        while copied < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"passthrough copied {copied:,} of {total:,} in {timeout:.0f} s")
            messages = [m for m in consumer.consume(batch, timeout=poll_timeout) if m.error() is None]
            if not messages:
                continue
            began = began or time.perf_counter()
            if exactly_once:
                producer.begin_transaction()
            offsets: dict[int, int] = {}
            for m in messages:
                producer.produce(sink, m.value(), m.key(), partition=m.partition())
                offsets[m.partition()] = m.offset() + 1
                producer.poll(0)
            if exactly_once:
                producer.send_offsets_to_transaction([TopicPartition(source, p, o) for p, o in offsets.items()],
                                                     consumer.consumer_group_metadata(), 30)
                producer.commit_transaction(30)
            elif time.perf_counter() - committed_at >= 1.0:
                consumer.commit(asynchronous=True)
                committed_at = time.perf_counter()
            copied += len(messages)
            advance(len(messages))
        if not exactly_once:
            if producer.flush(30) > 0:
                raise KafkaException("passthrough: records left undelivered")
            consumer.commit(asynchronous=False)
        return time.perf_counter() - (began or time.perf_counter())
    finally:
        consumer.close()
        producer.flush(5)
