"""`bench/api_restart.py --tail N`: the run-status records a restarted API server finds to fold.

Owns the tail's shape on a kept store (`bench/api_views.py --build-only`): N
records on the run-status topic, in turns of a new run of the store's
automation `welcome` (its records as the template's, `bench/api_views.welcome_run`,
for the learner `<tag>-learner-<i>` in school i % schools, newer than every
run the store holds) and the rest of one of its waiting runs (a template run
still waiting, in a random copy: its wait ends, the last email goes out, it is
fulfilled), on the partition the store holds that learner in. The tag is the
invocation's start time, so each invocation's new runs are new to the store,
and it seeds the choice of waiting runs: a run an earlier invocation finished
and chosen again is read by the fold and left as it is (not applied).

Run as a script, it folds such records in process instead (`fold_in_process`:
no broker, no server), to split the restart's fold cost by shape:

    python bench/api_restart_tail.py sqlite:////work/stores/sqlite/projections.sqlite3 --shape new|finish [--records 20000]
"""

from __future__ import annotations

import random
import sys
import time
import zlib
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Producer  # noqa: E402

from bench.api_views import T0, exits, welcome_run  # noqa: E402
from bench.api_views_multiply import _spans, built_copies  # noqa: E402
from projections.store import ProjectionStore  # noqa: E402
from schemas.codec import encode  # noqa: E402

WAIT = timedelta(days=7)


def _school(copy: int, schools: int) -> str:
    return "s" if copy % schools == 0 else f"s{copy % schools}"


def _store_shape(url: str) -> tuple[int, int, int, int, int]:
    """(runs a copy, copies, schools, microseconds each copy is shifted, the newest start) of a kept store."""
    store = ProjectionStore(url)
    try:
        with store.connect() as conn:
            built = built_copies(conn)
            if built is None:
                raise SystemExit(f"{url}: not a store bench/api_views.py --build-only built")
            span, _ = _spans(conn)
            newest = conn.exec_driver_sql(
                "SELECT MAX(started_us) FROM runs WHERE school = 's' AND automation_id = 'welcome'").scalar_one()
    finally:
        store.close()
    runs, copies, schools = built
    return runs, copies, schools, span, newest


def _new_run(i: int, tag: str, school: str, after: timedelta) -> list[dict]:
    records = []
    for found in welcome_run(i):
        found = dict(found, school=school, user=f"{tag}-{found['user']}", at=found["at"] + after)
        for name in ("run_id", "trigger_event_id", "event_id"):
            if found[name]:
                found[name] = f"{tag}-{found[name]}"
        if found["detail"]:
            found["detail"] = found["detail"].replace("run-", f"{tag}-run-")
        records.append(found)
    return records


def _finish_waiting(n: int, copy: int, school: str, span_us: int) -> list[dict]:
    """The rest of template run n (one still waiting) in copy `copy`: as `welcome_run` finishes the even ones."""
    prefix = f"c{copy}-" if copy else ""
    user, run_id = f"{prefix}learner-{n}", f"{prefix}run-{n}"
    at = T0 + timedelta(seconds=n, microseconds=copy * span_us) + WAIT
    base = {**dict.fromkeys(("automation_version", "step_type", "outcome", "detail", "trigger_id", "trigger_event_id",
                             "event_id", "matched", "exit_id", "error", "reason", "replay_of", "trace_json")),
            "school": school, "user": user, "automation_id": "welcome", "run_id": run_id, "at": at, "status": None, "step_id": None}
    return [
        {**base, "kind": "run_status_changed", "status": "executing", "step_id": "pause"},
        {**base, "kind": "step_recorded", "step_id": "pause", "step_type": "wait_duration", "outcome": "waited"},
        {**base, "kind": "step_recorded", "step_id": "nudge", "step_type": "send_email", "outcome": "done"},
        {**base, "kind": "run_status_changed", "status": "fulfilled"},
    ]


def produce_tail(settings, url: str, wanted: int, partitions: int) -> tuple[int, str]:
    """Produces `wanted` records on the run-status topic; (records produced, what they are)."""
    runs, copies, schools, span_us, newest_us = _store_shape(url)
    started = int(time.time())
    tag = f"t{started}"
    after = timedelta(microseconds=newest_us - int(T0.timestamp() * 1_000_000)) + timedelta(seconds=1)
    chosen = random.Random(started)  # another invocation finishes other waiting runs
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "enable.idempotence": True})
    produced = new_runs = finished = 0

    def send(partition_of: str, records: list[dict]) -> None:
        nonlocal produced
        partition = zlib.crc32(partition_of.encode()) % partitions
        for found in records[: wanted - produced]:
            producer.produce(settings.topics.run_status, key=f"{found['school']}:{found['user']}",
                             value=encode("run_status", found), partition=partition)
            produced += 1
        producer.poll(0)

    i = 0
    while produced < wanted:
        send(f"{tag}-learner-{i}", _new_run(i, tag, _school(i, schools), after))
        new_runs += 1
        n = chosen.randrange(runs)
        while n % 2 == 0 or exits(n):  # the template's runs still waiting
            n = chosen.randrange(runs)
        copy = chosen.randrange(copies)
        if produced < wanted:
            send(f"learner-{n}", _finish_waiting(n, copy, _school(copy, schools), span_us))  # the template's partition
            finished += 1
        i += 1
    assert producer.flush(120) == 0
    return produced, f"{new_runs:,} new runs tagged {tag}, {finished:,} waiting runs finished"


def fold_in_process(url: str, wanted: int, shape: str, partitions: int = 4, batch: int = 2000) -> None:
    """The tail's new runs or finished waits folded by `projections.projector.Projector` in this
    process (no broker, no server), `batch` records a partition a fold as the feeds read them:
    wall and CPU seconds a record, SQLite's CPU being all this process's. The records stay in the
    store (new runs tagged `f<time>`); the offsets of the topic named for it are removed after."""
    import resource
    from collections import defaultdict

    from processors.kafka_io import Record
    from projections.projector import Projector

    runs, copies, schools, span_us, newest_us = _store_shape(url)
    started = int(time.time())
    tag, chosen = f"f{started}", random.Random(started)
    after = timedelta(microseconds=newest_us - int(T0.timestamp() * 1_000_000)) + timedelta(seconds=1)
    by_partition: dict[int, list[dict]] = defaultdict(list)
    made, i = 0, 0
    while made < wanted:
        if shape == "new":
            learner, records = f"{tag}-learner-{i}", _new_run(i, tag, _school(i, schools), after)
        else:
            n = chosen.randrange(runs)
            while n % 2 == 0 or exits(n):
                n = chosen.randrange(runs)
            copy = chosen.randrange(copies)
            learner, records = f"learner-{n}", _finish_waiting(n, copy, _school(copy, schools), span_us)
        by_partition[zlib.crc32(learner.encode()) % partitions] += records
        made += len(records)
        i += 1
    topic = f"{tag}.run-status"
    store = ProjectionStore(url)
    store.migrate()
    projector = Projector(store, topic)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before, began = usage.ru_utime + usage.ru_stime, time.perf_counter()
    for p, records in sorted(by_partition.items()):
        for start in range(0, len(records), batch):
            projector.fold(p, [Record(topic, p, start + k, None, encode("run_status", found), 0)
                               for k, found in enumerate(records[start:start + batch])])
    wall = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before  # the records' encoding included: a few us each
    with store.connect() as conn:
        conn.exec_driver_sql(f"DELETE FROM projector_offsets WHERE topic = '{topic}'")
        conn.commit()
    store.close()
    print(f"{made:,} records ({shape}) folded in {wall:.1f} s: {made / wall:,.0f} records/s, {wall / made * 1e6:,.0f} us wall and "
          f"{cpu / made * 1e6:,.0f} us CPU of this process a record ({' '.join(open('/proc/loadavg').read().split()[:3])})", flush=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=fold_in_process.__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--shape", choices=["new", "finish"], default="new")
    parser.add_argument("--row-value-lists", action="store_true",
                        help="SQLite: composite keys as row-value lists, as before the fold's lookups went through VALUES")
    args = parser.parse_args()
    if args.row_value_lists:
        from projections import upsert

        upsert._listed = lambda one, count, columns: f"({', '.join([one] * count)})"
    fold_in_process(args.url, args.records, args.shape)
