"""`bench/api_views.py --store`: the projections' store at scale (SQLite or PostgreSQL).

Folds the bench's runs through the projector into the store (progress on
stderr), with the in-memory fold of the same bytes as the baseline (unless
`--no-baseline`), then starts a fresh process that opens the store as a
restarted API server does and times what the API asks
(`bench/api_views_reader.py`). With `--copies`, the folded runs are a
template multiplied in the database to that many copies
(`bench/api_views_multiply.py`), each size read in turn. Prints the store's
size on disk; on PostgreSQL the reads are timed before and after an
`ANALYZE` when the reader found a table without fresh statistics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRESS_EVERY = 5.0


def _load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure_store(backend: str, url: str | None, total: int, welcome_run, partitions: int, copies: list[int],
                  schools: int = 1, baseline: bool = True, explain: bool = False, compare: bool = False, bulk: bool = True) -> None:
    from projections.store import ProjectionStore

    cluster = None
    folder = None
    if url is None and backend == "postgresql":
        from tests.postgres import Cluster

        cluster = Cluster().start()
        url = cluster.create_database("bench")
    elif url is None:
        folder = tempfile.mkdtemp(prefix="bench-views-")
        url = f"sqlite:///{folder}/projections.sqlite3"
    try:
        store = ProjectionStore(url)
        store.migrate()
        _fold(store, backend, total, welcome_run, partitions, baseline)
        if not copies:
            _read_and_report(store, url, total, 1, schools, explain)
        have = 1
        for want in copies:
            from bench.api_views_multiply import multiply

            print(f"{backend}: multiplying the {total:,} folded runs to {want} copies ({total * want:,} runs; {_load()})",
                  file=sys.stderr, flush=True)
            seconds, have = multiply(store.engine, have, want, schools, bulk=bulk)
            print(f"{backend}, {total * have:,} runs ({have} copies of {total:,} folded, {schools} school(s)): built in "
                  f"{seconds:.0f} s ({_load()})", flush=True)
            _read_and_report(store, url, total, have, schools, explain)
            if compare:
                _compare_with_fold(backend, store, total * have, welcome_run, partitions, explain)
        store.close()
    finally:
        if cluster is not None:
            cluster.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def build_kept(backend: str, url: str, total: int, welcome_run, partitions: int, copies: int, schools: int,
               keep_free_gb: float) -> None:
    """`--build-only`: folds `total` runs into the store at `url` and multiplies them to `copies`,
    and keeps it; a store this bench built before is grown from the copies it holds."""
    from bench.api_views_multiply import built_copies, multiply
    from projections.store import ProjectionStore

    began = time.perf_counter()
    store = ProjectionStore(url)
    store.migrate()
    with store.connect() as conn:
        built = built_copies(conn)
    if built is None:
        _fold(store, backend, total, welcome_run, partitions, baseline=False)
        have = 1
    else:
        total, have, schools = built
        print(f"{backend}: the store holds {have} copies of {total:,} runs; growing it to {copies} ({_load()})",
              file=sys.stderr, flush=True)
    seconds, have = multiply(store.engine, have, copies, schools, keep_free_gb)
    print(f"{backend}, {total * have:,} runs ({have} copies of {total:,} folded, {schools} school(s)): multiplied in "
          f"{seconds:.0f} s, {time.perf_counter() - began:.0f} s in all; kept at {url} ({_load()})", flush=True)
    print(f"  on disk: {_size(store, url)}", flush=True)
    store.close()


def read_kept(url: str, explain: bool, asked: int) -> None:
    """`--read-only`: the reader (a fresh process) against a store `build_kept` left."""
    from bench.api_views_multiply import built_copies
    from projections.store import ProjectionStore

    store = ProjectionStore(url)
    with store.connect() as conn:
        built = built_copies(conn)
    if built is None:
        raise SystemExit(f"{url}: not a store bench/api_views.py --build-only built")
    total, copies, schools = built
    print(f"{total * copies:,} runs ({copies} copies of {total:,}, {schools} school(s)) at {url} ({_load()})", flush=True)
    _read_and_report(store, url, total, copies, schools, explain, asked)
    store.close()


def _fold(store, backend: str, total: int, welcome_run, partitions: int, baseline: bool) -> None:
    from processors.config import Settings
    from processors.kafka_io import Record
    from projections.partition import PartitionViews
    from projections.projector import Projector
    from schemas.codec import decode, encode

    projector = Projector(store)
    batch_records = Settings().fold_batch  # records a partition per fold: the feeds' batch (AUTOMATIONS_FOLD_BATCH)
    memory = [PartitionViews() for _ in range(partitions)] if baseline else None
    pending = {p: [] for p in range(partitions)}
    offsets = dict.fromkeys(range(partitions), 0)
    folded = records = 0
    into_store = into_memory = 0.0
    report_at = time.monotonic() + PROGRESS_EVERY
    print(f"{backend}, {total:,} runs: folding, {batch_records:,} records a batch ({_load()})", file=sys.stderr, flush=True)

    def flush(p: int) -> None:
        nonlocal folded, into_store, into_memory
        batch = pending[p]
        began = time.perf_counter()
        projector.fold(p, batch)
        into_store += time.perf_counter() - began
        if memory is not None:
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
        if len(pending[p]) >= batch_records:
            flush(p)
        if time.monotonic() > report_at:
            print(f"  {folded:,} of ~{total * 6.65:,.0f} records folded ({folded / into_store:,.0f}/s; {_load()})", file=sys.stderr, flush=True)
            report_at = time.monotonic() + PROGRESS_EVERY
    for p in range(partitions):
        if pending[p]:
            flush(p)
    memory = None  # the baseline's views: not what the reader holds
    from sqlalchemy import func, select

    from projections import schema as t

    with store.connect() as conn:  # what the duplicate checks keep, against what was folded
        key_rows = conn.execute(select(func.count()).select_from(t.fold_keys)).scalar_one()
    in_memory = f"{records / into_memory:,.0f} records/s" if into_memory else "not run (--no-baseline)"
    print(f"{backend}, {total:,} runs: {records:,} records folded into the store at {records / into_store:,.0f} records/s "
          f"({into_store:.1f} s); the in-memory fold of the same bytes (baseline, same run) {in_memory}; {_load()}", flush=True)
    print(f"  duplicate-check key rows (fold_keys): {key_rows:,} ({key_rows / records:.2f} a record; record digests kept "
          f"{store.seen_kept:,} records a partition)", flush=True)


def _read_and_report(store, url: str, total: int, copies: int, schools: int, explain: bool, asked: int = 300) -> None:
    print(f"  on disk: {_size(store, url)}", flush=True)
    answer = _reader(url, total, copies, schools, explain, asked)
    _report(answer, "as built")
    stale = [name for name, figures in answer["statistics"].items()
             if not figures["analyzed"] or figures["changed_since_analyze"] > figures["live_rows"] / 10]
    if stale:
        began = time.perf_counter()
        store.analyze()
        print(f"  ANALYZE ({', '.join(sorted(stale))} had no fresh statistics): {time.perf_counter() - began:.1f} s", flush=True)
        _report(_reader(url, total, copies, schools, explain, asked), "after ANALYZE")


def _reader(url: str, total: int, copies: int, schools: int, explain: bool, asked: int = 300) -> dict:
    command = [sys.executable, "-m", "bench.api_views_reader", url, str(total), str(copies), str(schools), "--asked", str(asked)]
    reader = subprocess.run(command + (["--explain"] if explain else []), cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(reader.stdout)


def _report(answer: dict, label: str) -> None:
    tables = ", ".join(f"{name} {'analyzed' if f['analyzed'] else 'never analyzed'} at {f['estimated_rows']:,} rows "
                       f"(+{f['changed_since_analyze']:,} changed)" for name, f in sorted(answer["statistics"].items()))
    print(f"  reader, {label}: open, migrate, offsets, first answer {answer['ready_s']:.2f} s; resident set {answer['rss_mb']:.0f} MB"
          + (f"; statistics: {tables}" if tables else ""), flush=True)
    figures = "; ".join(f"{name} {p50:.1f} / {p99:.1f}" for name, (p50, p99) in answer["p50_p99_ms"].items())
    print(f"    p50 / p99 ms ({answer['asked']} each): {figures} ({_load()})", flush=True)


def _size(store, url: str) -> str:
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
        return f"{sum(p.stat().st_size for p in files) / 1e9:.2f} GB (the file and its WAL)"
    from bench.api_views_multiply import template_bytes

    with store.connect() as conn:
        whole = int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one() - template_bytes(conn))
        biggest = conn.exec_driver_sql("""SELECT relname, pg_total_relation_size(oid) FROM pg_class
            WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 2 DESC LIMIT 4""").all()
    tables = ", ".join(f"{name} {size / 1e9:.2f}" for name, size in biggest)
    return f"{whole / 1e9:.2f} GB the database, the template's copy left out (largest with their indexes, GB: {tables})"


def _figures_of(store) -> dict:
    """What the multiplied and the folded store must both say of the automation, the instants left out."""
    from bench.api_views import WELCOME
    from projections import sql_queries as q

    with store.reading() as conn:
        row, funnel = q.automation_row(conn, WELCOME), q.step_funnel(conn, "s", "welcome", WELCOME)
        waiting = q.waiting_by_step(conn, "s", "welcome")
        listed = [(run["status"], run["waiting_in"]) for run in q.runs_of_automation(conn, "s", "welcome", limit=1000)]
        # Template runs (copy 0 keeps their ids and instants): declined, skipped, checked, exited.
        learners = {n: q.learner_history(conn, "s", f"learner-{n}") for n in (1, 3, 5, 6, 21, 23)}
        activities = {n: q.find_run(conn, f"run-{n}", "s").activity() for n in (1, 3, 5, 6, 21, 23)}
    row.pop("last_run_at")
    for step in funnel:
        step.pop("waiting_since_oldest")
    return {"row": row, "funnel": funnel, "waiting": waiting, "listed": listed, "learners": learners, "activities": activities}


def _compare_with_fold(backend: str, multiplied, runs: int, welcome_run, partitions: int, explain: bool) -> None:
    """`--compare-fold`: the same number of runs folded into a fresh store; their answers and read times."""
    from projections.store import ProjectionStore

    cluster = folder = None
    if backend == "postgresql":
        from tests.postgres import Cluster

        cluster = Cluster().start()
        url = cluster.create_database("folded")
    else:
        folder = tempfile.mkdtemp(prefix="bench-views-")
        url = f"sqlite:///{folder}/projections.sqlite3"
    try:
        folded = ProjectionStore(url)
        folded.migrate()
        _fold(folded, backend, runs, welcome_run, partitions, baseline=False)
        same = _figures_of(folded) == _figures_of(multiplied)
        print(f"  the same {runs:,} runs folded: the automation's row, funnel, waiting counts, newest 1,000 runs' statuses "
              f"and six template learners' views and runs' activity (declined, skipped, exit checks) "
              f"{'equal' if same else 'DIFFER FROM'} the multiplied store's (instants aside)", flush=True)
        _read_and_report(folded, url, runs, 1, 1, explain)
        folded.close()
    finally:
        if cluster is not None:
            cluster.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
