"""`bench/api_views.py --store`: the projections' store at scale (SQLite or PostgreSQL).

Folds the bench's runs through the projector into the store (progress on
stderr), with the in-memory fold of the same bytes as the baseline, then
starts a fresh process that opens the store as a restarted API server does
and times what the API asks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 2000  # records a partition per fold: the API feed's getmany batch
PROGRESS_EVERY = 5.0


def _load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure_store(backend: str, url: str | None, total: int, welcome_run, welcome, partitions: int) -> None:
    from processors.kafka_io import Record
    from projections.partition import PartitionViews
    from projections.projector import Projector
    from projections.store import ProjectionStore
    from schemas.codec import decode, encode

    cluster = None
    if url is None and backend == "postgresql":
        from tests.postgres import Cluster

        cluster = Cluster().start()
        url = cluster.create_database("bench")
    elif url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-views-')}/projections.sqlite3"
    try:
        store = ProjectionStore(url)
        store.migrate()
        projector = Projector(store)
        memory = [PartitionViews() for _ in range(partitions)]
        pending = {p: [] for p in range(partitions)}
        offsets = dict.fromkeys(range(partitions), 0)
        folded = records = 0
        into_store = into_memory = 0.0
        report_at = time.monotonic() + PROGRESS_EVERY
        print(f"{backend}, {total:,} runs: folding ({_load()})", file=sys.stderr, flush=True)

        def flush(p: int) -> None:
            nonlocal folded, into_store, into_memory
            batch = pending[p]
            began = time.perf_counter()
            projector.fold(p, batch)
            into_store += time.perf_counter() - began
            began = time.perf_counter()
            for record in batch:
                memory[p].apply(decode("run_status", record.value), encoded=record.value)
            into_memory += time.perf_counter() - began
            folded += len(batch)
            pending[p] = []

        for n in range(total):
            p = zlib.crc32(f"learner-{n}".encode()) % partitions
            for record in welcome_run(n):
                pending[p].append(Record("run-status", p, offsets[p], None, encode("run_status", record), 0))
                offsets[p] += 1
                records += 1
            if len(pending[p]) >= BATCH:
                flush(p)
            if time.monotonic() > report_at:
                print(f"  {folded:,} of ~{total * 6:,} records folded ({folded / into_store:,.0f}/s; {_load()})", file=sys.stderr, flush=True)
                report_at = time.monotonic() + PROGRESS_EVERY
        for p in range(partitions):
            if pending[p]:
                flush(p)
        memory = None  # the baseline's views: not what the reader below holds
        from sqlalchemy import func, select

        from projections import schema as t

        with store.connect() as conn:  # what the duplicate checks keep, against what was folded
            key_rows = conn.execute(select(func.count()).select_from(t.fold_keys)).scalar_one()
        store.close()
        print(f"{backend}, {total:,} runs: {records:,} records folded into the store at {records / into_store:,.0f} records/s "
              f"({into_store:.1f} s); the in-memory fold of the same bytes (baseline, same run) {records / into_memory:,.0f} records/s; "
              f"{_load()}", flush=True)
        print(f"  duplicate-check key rows (fold_keys): {key_rows:,} ({key_rows / records:.2f} a record; record digests kept "
              f"{store.seen_kept:,} records a partition)", flush=True)
        reader = subprocess.run([sys.executable, "-m", "bench.api_views_store", url, str(total)], cwd=ROOT,
                                capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        answer = json.loads(reader.stdout)
        print(f"  a restarted reader (open, migrate, offsets, first answer): {answer['ready_s']:.2f} s; resident set "
              f"{answer['rss_mb']:.0f} MB; runs list limit=50 p50 {answer['list'][0]:.1f} ms p99 {answer['list'][1]:.1f} ms; "
              f"row + funnel p50 {answer['funnel'][0]:.1f} ms p99 {answer['funnel'][1]:.1f} ms; learner view p50 "
              f"{answer['learner'][0]:.1f} ms p99 {answer['learner'][1]:.1f} ms ({answer['asked']} each; {_load()})", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _reader(url: str, total: int, asked: int = 300) -> dict:
    """What a restarted API server does with the store, and then what it answers, timed."""
    import random

    began = time.perf_counter()
    from bench.api_views import WELCOME
    from projections import sql_queries
    from projections.store import ProjectionStore

    store = ProjectionStore(url)
    store.migrate()
    store.offsets()
    with store.connect() as conn:
        sql_queries.runs_of_automation(conn, "s", "welcome", limit=50)
    ready = time.perf_counter() - began
    chosen = random.Random(7)
    timings: dict[str, list[float]] = {"list": [], "funnel": [], "learner": []}
    questions = {
        "list": lambda conn: sql_queries.runs_of_automation(conn, "s", "welcome", limit=50),
        "funnel": lambda conn: (sql_queries.automation_row(conn, WELCOME), sql_queries.step_funnel(conn, "s", "welcome", WELCOME)),
        "learner": lambda conn: sql_queries.learner_history(conn, "s", f"learner-{chosen.randrange(total)}"),
    }
    for _ in range(asked):
        for name, ask in questions.items():
            with store.connect() as conn:  # as the API server does, a pooled connection per answer
                began = time.perf_counter()
                ask(conn)
                timings[name].append(time.perf_counter() - began)
    # The peak of this process's own memory (VmHWM): ru_maxrss would carry the bench's
    # peak over the fork and exec that started this reader.
    status = Path("/proc/self/status").read_text()
    rss_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
    return {"ready_s": ready, "rss_mb": rss_mb, "asked": asked, **{name: _percentiles(t) for name, t in timings.items()}}


if __name__ == "__main__":
    print(json.dumps(_reader(sys.argv[1], int(sys.argv[2]))))
