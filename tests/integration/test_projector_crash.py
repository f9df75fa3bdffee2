"""The projector killed mid-fold (kill -9) and started again: no run counted twice or lost.

On the real broker and each real store (a SQLite file; PostgreSQL in a
throwaway cluster): run-status records of thousands of runs on an isolated
topic, `automations projector run` folding them in its consumer group,
killed while some partitions are part way, then started again. The store
must then answer exactly what a fold of the topic from offset 0 answers
(the in-memory fold of every record read back, the oracle), and hold each
partition's offset at the topic's end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import Producer

from processors.kafka_io import ensure_topics, read_to_end
from projections import queries, sql_queries
from projections.partition import PartitionViews
from projections.store import ProjectionStore
from schemas.codec import decode, encode
from tests.integration.harness import delete_topics, isolated_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4
RUNS = 6000
T0 = datetime(2027, 3, 1, tzinfo=timezone.utc)


def run_records(n: int) -> list[dict]:
    """A run that waits; every other one finishes; every tenth learner also declined once."""
    user, run_id = f"learner-{n}", f"run-{n}"
    base = {"school": "s", "user": user, "automation_id": f"a{n % 3}", "automation_version": 0, "run_id": run_id}

    def record(kind: str, seconds: float, **columns) -> dict:
        found = dict.fromkeys(("status", "step_id", "step_type", "outcome", "detail", "trigger_id", "trigger_event_id",
                               "event_id", "matched", "exit_id", "error", "reason", "replay_of", "trace_json"))
        return {**found, **base, "kind": kind, "at": T0 + timedelta(seconds=seconds), **columns}

    records = [
        record("run_started", n, trigger_event_id=f"e{n}", trigger_id="t0"),
        record("step_recorded", n, step_id="hello", step_type="send_email", outcome="done"),
        record("step_recorded", n, step_id="pause", step_type="wait_duration", outcome="waiting"),
        record("run_status_changed", n, status="pending", step_id="pause"),
    ]
    if n % 2 == 0:
        records += [
            record("run_status_changed", n + 90, status="executing", step_id="pause"),
            record("step_recorded", n + 90, step_id="pause", step_type="wait_duration", outcome="waited"),
            record("run_status_changed", n + 90, status="fulfilled"),
        ]
    if n % 10 == 0:
        records.append({**record("entry_declined", n + 1, trigger_event_id=f"d{n}", reason="conditions not met"), "run_id": None})
    return records


def produce(settings, runs: int = RUNS) -> int:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "enable.idempotence": True})
    count = 0
    for n in range(runs):
        partition = zlib.crc32(f"learner-{n}".encode()) % PARTITIONS
        for record in run_records(n):
            producer.produce(settings.topics.run_status, key=f"s:learner-{n}", value=encode("run_status", record), partition=partition)
            count += 1
        producer.poll(0)
    assert producer.flush(60) == 0
    return count


def oracle(settings) -> dict:
    """The fold from offset 0: every record read back from the topic, folded in memory."""

    async def read() -> list[PartitionViews]:
        parts: dict[int, PartitionViews] = {}
        async for record in read_to_end(settings, settings.topics.run_status):
            parts.setdefault(record.partition, PartitionViews()).apply(decode("run_status", record.value), encoded=record.value)
        return [parts[p] for p in sorted(parts)]

    return queries.snapshot(asyncio.run(read()))


def start_projector(settings, url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "AUTOMATIONS_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "AUTOMATIONS_TOPIC_PREFIX": settings.topics.prefix,
        "AUTOMATIONS_APP_ID": settings.app_id,
        "AUTOMATIONS_PARTITIONS": str(PARTITIONS),
        "AUTOMATIONS_SESSION_TIMEOUT": "6",
        "AUTOMATIONS_PROJECTIONS_URL": url,
    }
    return subprocess.Popen([sys.executable, "cli.py", "projector", "run"], cwd=ROOT, env=env,
                            stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)



def wait_for(what: str, check, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout:.0f}s; projector log:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def test_a_projector_killed_mid_fold_resumes_without_counting_a_run_twice_or_losing_one(store_url, tmp_path):
    settings = isolated_settings(PARTITIONS)
    asyncio.run(ensure_topics(settings))
    log = tmp_path / "projector.log"
    try:
        total = produce(settings)
        store = ProjectionStore(store_url)
        store.migrate()
        topic = settings.topics.run_status

        def folded() -> int:
            return sum(store.offsets(topic).values())

        # given a projector part way through the topic
        first = start_projector(settings, store_url, log)
        wait_for("a first batch folded", lambda: folded() > 0, 120, log)
        # when it is killed mid-fold
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = folded()
        assert 0 < at_kill < total, f"killed after {at_kill} of {total} records: not mid-fold"
        # and started again, until every partition's stored offset is at the topic's end
        second = start_projector(settings, store_url, log)
        try:
            wait_for("the rest folded", lambda: folded() == total, 300, log)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        # then the views are those of a fold from offset 0
        with store.connect() as conn:
            got = sql_queries.snapshot(conn)
        expected = oracle(settings)
        assert len(got["runs"]) == RUNS
        assert got["automations"] == expected["automations"]
        assert got == expected
        assert sum(applied for applied, _ in store.counts(topic).values()) == total
        store.close()
    finally:
        delete_topics(settings)
