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
"""

from __future__ import annotations

import random
import time
import zlib
from datetime import timedelta

from confluent_kafka import Producer

from bench.api_views import T0, exits, welcome_run
from bench.api_views_multiply import _spans, built_copies
from projections.store import ProjectionStore
from schemas.codec import encode

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
