"""The latency floor of exactly-once on this machine: a bare consume -> produce copier, no engine.

Owns one measurement: records sent at a steady rate (the pipeline benchmark's
producer) through a copier that runs the stream task's cycle without any
work (poll the first record, take what else is there, one transaction with
the batch's records and its consumer offsets, commit; the task's producer
settings) and read back `read_committed` (the pipeline benchmark's reader):
p50 / p99 from each record's send to its copy seen. What the worker's
event -> action latency cannot go under on the same broker and box, since
each of its batches is such a transaction (and a ping's email is one copy).

    AUTOMATIONS_BROKER_PORT=P python bench/eos_latency_floor.py [--rate 1570] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import TopicPartition  # noqa: E402

from bench.pipeline_kafka import Tail, create_topic, delete_topics_with_prefix, send_steadily  # noqa: E402
from bench.pipeline_measure import Window, broker_pid, spread_ms  # noqa: E402
from bench.pipeline_passthrough import clients  # noqa: E402
from processors.config import Settings  # noqa: E402


def copier(bootstrap: str, source: str, sink: str, stop: threading.Event, transactions: list[int]) -> None:
    consumer, producer = clients(bootstrap, f"{sink}-group", transactional=True)
    producer.init_transactions(30)
    consumer.subscribe([source])
    try:
        while not stop.is_set():
            first = consumer.poll(0.05)
            if first is None:
                continue
            messages = [m for m in (first, *consumer.consume(999, timeout=0)) if m.error() is None]
            if not messages:
                continue
            producer.begin_transaction()
            offsets: dict[int, int] = {}
            for m in messages:
                producer.produce(sink, m.value(), m.key(), partition=m.partition(), timestamp=m.timestamp()[1])
                offsets[m.partition()] = m.offset() + 1
            producer.send_offsets_to_transaction([TopicPartition(source, p, o) for p, o in offsets.items()],
                                                 consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            transactions.append(len(messages))
    finally:
        consumer.close()


async def measure(settings: Settings, prefix: str, rate: float, seconds: float, partitions: int) -> dict:
    source, sink = f"{prefix}.source", f"{prefix}.sink"
    for topic in (source, sink):
        await create_topic(settings, topic, partitions)
    await asyncio.sleep(3.0)  # the new partitions' leaders
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    count = int(rate * seconds)
    records = [(f"k{n}", b"x" * 200) for n in range(count)]
    stop, transactions = threading.Event(), []
    thread = threading.Thread(target=copier, args=(settings.bootstrap_servers, source, sink, stop, transactions), daemon=True)
    thread.start()
    tail = await Tail(settings, [sink], lambda record, arrived: seen.setdefault(int(record.key[1:]), arrived)).start()
    # One record first, until its copy is seen: the copier has joined its group and committed once.
    await send_steadily(settings, source, [("k-1", b"warm-up")], 1.0, lambda n, at: None)
    while -1 not in seen:
        await asyncio.sleep(0.05)
    del seen[-1]
    transactions.clear()
    windows = {"this process": Window().start(), "broker": Window(broker_pid()).start()}
    began = time.perf_counter()
    achieved = await send_steadily(settings, source, records, rate, sent.__setitem__)
    deadline = time.monotonic() + 60
    while len(seen) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    wall = time.perf_counter() - began
    usage = {who: window.finish() for who, window in windows.items()}
    stop.set()
    await asyncio.to_thread(thread.join)
    await tail.stop()
    return {"rate": achieved, "sent": count, "seen": len(seen), **spread_ms([seen[n] - sent[n] for n in seen]),
            "transactions_per_s": len(transactions) / wall, "records_per_transaction": sum(transactions) / max(len(transactions), 1),
            "this_process_cpu_share": usage["this process"]["cpu_share"], "broker_cpu_share": usage["broker"]["cpu_share"],
            "machine_busy_cores": usage["broker"]["machine_busy_cores"], "load_1m": usage["broker"]["load_1m"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1570.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    settings = Settings()
    prefix = f"eos-floor-{uuid.uuid4().hex[:8]}"
    try:
        figures = asyncio.run(measure(settings, prefix, args.rate, args.seconds, args.partitions))
    finally:
        asyncio.run(delete_topics_with_prefix(settings, prefix))
    print(f"{figures['seen']}/{figures['sent']} records copied at {figures['rate']:,.0f}/s: send -> copy seen p50 "
          f"{figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms; "
          f"{figures['transactions_per_s']:.0f} transactions/s of {figures['records_per_transaction']:.1f} records; "
          f"CPU: this process (producer, copier, reader) {figures['this_process_cpu_share']:.0%}, broker "
          f"{figures['broker_cpu_share']:.0%} of a core; machine {figures['machine_busy_cores']:.2f} cores busy, load {figures['load_1m']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
