"""What one batch (one transaction) costs, apart from its records: the stream task's CPU and the broker's.

Owns one measurement: N records, all on the broker before the task starts, run
through the stream task (`processors.stream.task`, the worker's loop: poll,
process, changelog, offsets, commit, RocksDB write) with a processor that does
almost nothing (each record: one store write, one output), at `max_batch` B.
Between the first committed batch and the last, this process's CPU (the task's
thread, librdkafka's threads) and the broker JVM's (/proc) are divided by the
batches and by the records. Runs at several B (1, 10, 100 by default) give
the fixed cost of a batch (CPU = per batch x batches + per record x records):
what a worker pays per transaction in the latency phases' small batches, where
the engine's own cost per event is the same as in large ones.

    AUTOMATIONS_BROKER_PORT=P python bench/batch_cost.py [--records 3000] [--batches 1,10,100]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pipeline_kafka import create_topic, delete_topics_with_prefix, produce_all  # noqa: E402
from bench.pipeline_measure import broker_pid, process_cpu_seconds  # noqa: E402
from processors.config import Settings  # noqa: E402
from processors.stream.contract import Output  # noqa: E402
from processors.stream.task import StreamTask, TaskConfig  # noqa: E402


class Copying:
    """One store write and one output per record: the least a learner's processor does."""

    name = "copies"
    may_wait = 0.0

    def __init__(self, source: str, sink: str):
        self.topics = (source,)
        self.sink = sink

    def process(self, partition, inputs, store, emit) -> None:
        for item in inputs:
            store.put(item.key, item.value)
            emit(Output(self.sink, item.key, item.value, partition))

    def punctuate(self, partition, store, emit, limit=None) -> int:
        return 0

    def restored(self, store, key, value) -> None:
        store.put(key, value)


def run_at(settings: Settings, prefix: str, batch: int, records: int, partitions: int) -> dict:
    source, sink = f"{prefix}-b{batch}.source", f"{prefix}-b{batch}.sink"
    asyncio.run(create_topic(settings, source, partitions))
    asyncio.run(create_topic(settings, sink, partitions))
    asyncio.run(create_topic(settings, f"{prefix}-b{batch}-{Copying.name}-changelog", partitions))
    time.sleep(2.0)  # the new partitions' leaders
    keys = [(f"learner-{n % 1000}", b"x" * 200) for n in range(records)]
    asyncio.run(produce_all(settings, source, keys, lambda n: None))
    broker = broker_pid()
    marks: dict[str, tuple[float, float, float, int]] = {}
    done = threading.Event()
    count = [0, 0]  # records, batches

    def on_batch(consumed: int, _seconds: float) -> None:
        if not consumed:
            return
        count[0] += consumed
        count[1] += 1
        if "first" not in marks or count[0] >= records:
            mark = (time.process_time(), process_cpu_seconds(broker) if broker else float("nan"), time.perf_counter(), count[1])
            marks.setdefault("first", (*mark[:3], count[1]))
            if count[0] >= records:
                marks["last"] = mark
                done.set()

    with tempfile.TemporaryDirectory() as data:
        task = StreamTask(TaskConfig(settings.bootstrap_servers, f"{prefix}-b{batch}.group", f"{prefix}-b{batch}.task",
                                     Path(data), f"{prefix}-b{batch}", max_batch=batch),
                          [Copying(source, sink)], on_batch=on_batch)
        task.start()
        finished = done.wait(300)
        task.stop()
    if not finished:
        raise RuntimeError(f"only {count[0]} of {records} records committed")
    (cpu0, broker0, wall0, n0), (cpu1, broker1, wall1, n1) = marks["first"], marks["last"]
    batches = n1 - n0
    return {"max_batch": batch, "batches": batches, "records_per_batch": count[0] / count[1],
            "task_cpu_us_per_batch": (cpu1 - cpu0) / batches * 1e6,
            "broker_cpu_us_per_batch": (broker1 - broker0) / batches * 1e6,
            "transactions_per_s": batches / (wall1 - wall0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=3000, help="per run (default 3,000)")
    parser.add_argument("--batches", default="1,10,100", help="the max_batch of each run, in order")
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    prefix = f"batch-cost-{uuid.uuid4().hex[:8]}"
    rows = []
    try:
        for batch in (int(b) for b in args.batches.split(",")):
            rows.append(row := run_at(settings, prefix, batch, args.records, args.partitions))
            print(f"max_batch {batch:>4}: {row['batches']:,} batches of {row['records_per_batch']:.1f} records, "
                  f"{row['transactions_per_s']:.0f}/s; CPU per batch: task {row['task_cpu_us_per_batch']:,.0f} us, "
                  f"broker {row['broker_cpu_us_per_batch']:,.0f} us", flush=True)
    finally:
        asyncio.run(delete_topics_with_prefix(settings, prefix))
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        per_record = ((large["task_cpu_us_per_batch"] - small["task_cpu_us_per_batch"])
                      / (large["records_per_batch"] - small["records_per_batch"]))
        fixed = small["task_cpu_us_per_batch"] - per_record * small["records_per_batch"]
        print(f"task CPU: {fixed:,.0f} us per batch + {per_record:,.1f} us per record (from the first and last runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
