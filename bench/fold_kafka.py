"""The fold of the run-status topic THROUGH KAFKA: the API server's first start and the CLI's catch-up.

bench/fold_cpu.py feeds `Projector.fold` from memory; here the real feeds read the
records from the broker at AUTOMATIONS_BROKER_PORT (start one first: `python -m
broker.kafka start`). The run-status records of `--runs` runs
(tests/integration/test_projector_crash.py's shape, four partitions) are put on fresh
topics once, then each checkout named folds them from offset 0 into a fresh store:

- api: `cli.py api` started on the topics (AUTOMATIONS_PROJECTOR=on), timed to `GET
  /ready` (the feed has caught up with the end offsets it saw at start). Its CPU is read
  from /proc when `GET /ready` first answers (503: loading; the store's offsets say how much is folded by
  then) and again when it answers 200, so the
  server's start (imports, migrations) is left out; the records and the rate are those
  folded in that span. Also its peak resident set (VmHWM).
- cli: `cli.py runs list --automation a1` on a fresh store (it catches the store up to the
  topic's end first, `projections/catch_up.py`), then again on the caught-up store; the
  fold's CPU is the first's rusage less the second's (the command's own cost).

For PostgreSQL one throwaway cluster holds a fresh database a run; its processes' CPU
(from /proc) is added. The load average is printed with every line. `--before DIR`
alternates another checkout (its own cli.py; AUTOMATIONS_FOLD_BATCH means nothing to a
checkout without it) with this one, `--rounds` times; `--batch N [N ...]` runs this
checkout once per AUTOMATIONS_FOLD_BATCH value.

    AUTOMATIONS_BROKER_PORT=29192 nice -n 10 .venv/bin/python bench/fold_kafka.py --runs 100000
    AUTOMATIONS_BROKER_PORT=29192 nice -n 10 .venv/bin/python bench/fold_kafka.py --runs 100000 \\
        --before /tmp/before-checkout --stores sqlite postgresql --paths api cli --rounds 2

`--getmany` only reads the topic once with this checkout's folding consumer options
and prints how many records each `getmany` handed over per partition (nothing folds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.kafka_io import ensure_topics  # noqa: E402
from tests.integration import test_projector_crash as crash  # noqa: E402
from tests.integration.api_harness import ApiServer  # noqa: E402
from tests.integration.harness import delete_topics, isolated_settings  # noqa: E402
from tests.integration.test_shared_projections import ReaderOnly  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def produce(settings, runs: int) -> int:
    """crash.produce's records (its run_records, partitions and keys), waiting when the producer's queue is full."""
    from confluent_kafka import Producer

    from schemas.codec import encode

    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "enable.idempotence": True})
    count = 0
    for n in range(runs):
        partition = zlib.crc32(f"learner-{n}".encode()) % crash.PARTITIONS
        for record in crash.run_records(n):
            value = encode("run_status", record)
            while True:
                try:
                    producer.produce(settings.topics.run_status, key=f"s:learner-{n}", value=value, partition=partition)
                    break
                except BufferError:
                    producer.poll(0.1)
            count += 1
        producer.poll(0)
    assert producer.flush(120) == 0
    return count


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Postgres:
    """A throwaway cluster, a fresh database a run, and its processes' CPU seconds."""

    def __init__(self) -> None:
        from tests.postgres import Cluster

        self.cluster = Cluster().start()
        self.made = 0

    def fresh(self) -> str:
        self.made += 1
        return self.cluster.create_database(f"fold{self.made}")

    def cpu(self) -> float:
        master = int((self.cluster.data / "postmaster.pid").read_text().split()[0])
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(pid) == master or int(fields[1]) == master:
                total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        return total / TICK

    def stop(self) -> None:
        self.cluster.stop()


class Folding(ReaderOnly):
    def __init__(self, settings, extra: dict[str, str]) -> None:
        super().__init__(settings)
        self.extra = extra

    def env(self) -> dict[str, str]:
        return {**super().env(), "AUTOMATIONS_PROJECTOR": "on", **self.extra}


class CheckoutServer(ApiServer):
    def __init__(self, checkout: Path, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.checkout = checkout

    def command(self) -> tuple[list[str], Path]:
        return [sys.executable, str(self.checkout / "cli.py"), "api"], self.checkout


def folded(url: str, settings) -> int:
    """Records the store has folded: its offsets (the topic has no gaps: no transactions)."""
    from projections.store import ProjectionStore

    store = ProjectionStore(url)
    try:
        return sum(store.offsets(settings.topics.run_status).values())
    finally:
        store.close()


def fold_api(checkout: Path, settings, url: str, extra: dict[str, str], total: int, server_cpu) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-fold-kafka-"))
    server = CheckoutServer(checkout, Folding(settings, extra), folder, ["s"])
    server.projections_url = url
    argv, cwd = server.command()
    server.process = subprocess.Popen(argv, env=server.env(), stdout=open(server.log_path, "a"),
                                      stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    first = None
    try:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"API exited with {server.process.returncode}: {server.log_tail()}")
            try:
                status = server.call("GET", "/ready")[0]
            except OSError:
                status = None
            if status is not None and first is None:  # the server's start is over: time from here
                first = (time.perf_counter(), process_cpu(server.process.pid), server_cpu(), folded(url, settings))
            if status == 200:
                break
            time.sleep(0.05)
        ended = (time.perf_counter(), process_cpu(server.process.pid), server_cpu())
        _, body = server.operator("GET", "/operator/projections")
        if body["records_applied"] != total:
            raise RuntimeError(f"{body['records_applied']} of {total} records applied")
        peak = int(Path(f"/proc/{server.process.pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    finally:
        server.stop()
    records = total - first[3]
    if records < total / 2:
        raise RuntimeError(f"{first[3]:,} of {total:,} records folded before the server answered: more --runs")
    return {"records": records, "wall": ended[0] - first[0], "cpu": ended[1] - first[1], "server": ended[2] - first[2],
            "peak_mb": peak}


def timed_cli(checkout: Path, env: dict[str, str]) -> tuple[float, float]:
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(checkout / "cli.py"), "runs", "list", "--automation", "a1"],
                               cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{checkout}: runs list exited with {os.waitstatus_to_exitcode(status)}")
    return time.perf_counter() - began, usage.ru_utime + usage.ru_stime


def fold_cli(checkout: Path, settings, url: str, extra: dict[str, str], total: int, server_cpu) -> dict:
    env = {**Folding(settings, extra).env(), "AUTOMATIONS_PROJECTIONS_URL": url}
    server0 = server_cpu()
    cold_wall, cold_cpu = timed_cli(checkout, env)
    server1 = server_cpu()
    warm_wall, warm_cpu = timed_cli(checkout, env)
    server2 = server_cpu()
    return {"records": total, "wall": cold_wall - warm_wall, "cpu": cold_cpu - warm_cpu,
            "server": (server1 - server0) - (server2 - server1), "peak_mb": None}


def report(label: str, store: str, path: str, figures: dict) -> None:
    records, wall, cpu, server = figures["records"], figures["wall"], figures["cpu"], figures["server"]
    peak = f" peak RSS {figures['peak_mb']:.0f} MB;" if figures["peak_mb"] is not None else ""
    server_part = f" + server {server:.2f} s" if store == "postgresql" else ""
    print(f"{label:>24} {store:>10} {path}: {records:,} records in {wall:.2f} s = {records / wall:,.0f}/s; "
          f"CPU {cpu:.2f} s{server_part} = {(cpu + server) / records * 1e6:.1f} us a record "
          f"({records / (cpu + server):,.0f} per CPU-second);{peak} {load()} {time.strftime('%H:%M:%S', time.gmtime())} UTC",
          flush=True)


async def getmany_sizes(settings) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from projections.fold_reads import fold_consumer_options

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest", group_id=None, isolation_level="read_committed",
                                **fold_consumer_options(settings))
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topics.run_status, p) for p in range(crash.PARTITIONS)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        read, sizes, calls = 0, Counter(), 0
        began, cpu0 = time.perf_counter(), time.process_time()
        while read < sum(ends.values()):
            batch = await consumer.getmany(timeout_ms=200, max_records=settings.fold_batch)
            calls += 1
            for messages in batch.values():
                sizes[len(messages)] += 1
                read += len(messages)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    finally:
        await consumer.stop()
    batches = sum(sizes.values())
    print(f"getmany(max_records={settings.fold_batch}) with {fold_consumer_options(settings)}: {read:,} records in "
          f"{calls} calls, {batches} partition batches, {read / batches:,.0f} records a batch on average; "
          f"most common sizes {sizes.most_common(5)}; {wall:.2f} s, {cpu / read * 1e6:.1f} us CPU a record ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--paths", nargs="+", choices=["api", "cli"], default=["api", "cli"])
    parser.add_argument("--before", type=Path, help="another checkout, run alternately with this one")
    parser.add_argument("--batch", nargs="+", type=int, default=[None], help="this checkout's AUTOMATIONS_FOLD_BATCH values")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--getmany", action="store_true", help="only report getmany's batches")
    args = parser.parse_args()
    settings = isolated_settings(crash.PARTITIONS)
    asyncio.run(ensure_topics(settings))
    postgres = None
    try:
        began = time.perf_counter()
        total = produce(settings, args.runs)
        print(f"{total:,} run-status records of {args.runs:,} runs on {settings.topics.run_status} "
              f"in {time.perf_counter() - began:.1f} s ({load()})", flush=True)
        if args.getmany:
            for batch in args.batch:
                from dataclasses import replace

                asyncio.run(getmany_sizes(settings if batch is None else replace(settings, fold_batch=batch)))
            return
        if "postgresql" in args.stores:
            postgres = Postgres()
        runs = [(f"{args.before.name} (before)", args.before, {})] if args.before else []
        runs += [(f". batch {batch or 'default'}", ROOT, {} if batch is None else {"AUTOMATIONS_FOLD_BATCH": str(batch)})
                 for batch in args.batch]
        folder = Path(tempfile.mkdtemp(prefix="bench-fold-kafka-stores-"))
        made = 0
        for _ in range(args.rounds):
            for label, checkout, extra in runs:
                for store in args.stores:
                    for path in args.paths:
                        made += 1
                        url = postgres.fresh() if store == "postgresql" else f"sqlite:///{folder / f'{made}.sqlite3'}"
                        server_cpu = postgres.cpu if store == "postgresql" else (lambda: 0.0)
                        fold = fold_api if path == "api" else fold_cli
                        report(label, store, path, fold(checkout, settings, url, extra, total, server_cpu))
    finally:
        delete_topics(settings)
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
