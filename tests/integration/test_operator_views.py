"""The operator commands answer from the projections' store exactly what the in-memory fold answered.

On the real broker: run-status records of hundreds of runs on an isolated
topic. `automations runs ...` (a process, as an operator runs it) folds the
topic into a new store on its first call, folds only what is new on the
next, and clears and folds again a partition the store holds of an earlier
topic of that name; every time its output (stdout and stderr, byte for byte)
is what the same command printed folding the whole topic in memory
(`console.operator_views.FoldedViews` over `projections.partition`, the
oracle, in this process).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import zlib

import pytest
import typer
from confluent_kafka import Producer
from typer.testing import CliRunner

from console import runs
from processors.kafka_io import ensure_topics, read_to_end
from projections.partition import PartitionViews
from projections.store import ProjectionStore
from schemas.codec import decode, encode
from tests.integration.api_harness import ROOT
from tests.integration.harness import delete_topics, isolated_settings
from tests.integration.test_projector_crash import PARTITIONS, run_records

pytestmark = pytest.mark.integration
COMMANDS = [
    ["runs", "list", "--automation", "a1"],
    ["runs", "list", "--automation", "a1", "--limit", "7"],
    ["runs", "list", "--automation", "a0", "--all", "--format", "jsonl"],
    ["runs", "list", "--automation", "a2", "--status", "fulfilled", "--limit", "5", "--format", "jsonl"],
    ["runs", "list", "--automation", "a2", "--school", "other", "--format", "jsonl"],
    ["runs", "show", "run-10", "--json"],
    ["runs", "show", "run-11"],
    ["runs", "for-learner", "s", "learner-20"],
    ["runs", "for-learner", "s", "learner-3"],
]


def produce(settings, first: int, last: int) -> int:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "enable.idempotence": True})
    count = 0
    for n in range(first, last):
        for record in run_records(n):
            producer.produce(settings.topics.run_status, key=f"s:learner-{n}", value=encode("run_status", record),
                             partition=zlib.crc32(f"learner-{n}".encode()) % PARTITIONS)
            count += 1
    assert producer.flush(60) == 0
    return count


def folded_in_memory(settings) -> list[PartitionViews]:
    async def read() -> list[PartitionViews]:
        parts: dict[int, PartitionViews] = {}
        async for record in read_to_end(settings, settings.topics.run_status):
            parts.setdefault(record.partition, PartitionViews()).apply(decode("run_status", record.value), encoded=record.value)
        return [parts[p] for p in sorted(parts)]

    return asyncio.run(read())


def env(settings, url: str) -> dict[str, str]:
    return {**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": settings.bootstrap_servers, "AUTOMATIONS_TOPIC_PREFIX": settings.topics.prefix,
            "AUTOMATIONS_APP_ID": settings.app_id, "AUTOMATIONS_PARTITIONS": str(PARTITIONS), "AUTOMATIONS_PROJECTIONS_URL": url}


def from_store(settings, url: str, args: list[str]) -> tuple[str, str]:
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], env=env(settings, url), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # Past a few seconds of folding, a progress line: the only difference allowed.
    return done.stdout, "".join(line for line in done.stderr.splitlines(keepends=True) if not line.startswith("folding "))


def from_memory(monkeypatch, parts: list[PartitionViews], args: list[str]) -> tuple[str, str]:
    root = typer.Typer()
    root.add_typer(runs.app, name="runs")
    monkeypatch.setattr(runs, "load_parts", lambda: parts)
    done = CliRunner().invoke(root, args)
    assert done.exit_code == 0, done.output
    return done.stdout, done.stderr


def assert_alike(monkeypatch, settings, url: str, commands: list[list[str]] = COMMANDS) -> None:
    parts = folded_in_memory(settings)
    for args in commands:
        assert from_store(settings, url, args) == from_memory(monkeypatch, parts, args), args


def stored(url: str, topic: str) -> int:
    store = ProjectionStore(url)
    try:
        return sum(store.offsets(topic).values())
    finally:
        store.close()


def test_the_cli_folds_into_the_store_then_answers_as_the_in_memory_fold(monkeypatch, tmp_path):
    settings = isolated_settings(PARTITIONS)
    asyncio.run(ensure_topics(settings))
    url = f"sqlite:///{tmp_path / 'projections.sqlite3'}"
    topic = settings.topics.run_status
    try:
        total = produce(settings, 0, 400)
        # a new store: the first command folds the whole topic into it
        assert from_store(settings, url, COMMANDS[0]) == from_memory(monkeypatch, folded_in_memory(settings), COMMANDS[0])
        assert stored(url, topic) == total
        assert_alike(monkeypatch, settings, url)
        # records written since: folded on the next command, the rest read from the store
        total += produce(settings, 400, 600)
        assert_alike(monkeypatch, settings, url, COMMANDS[2:6])
        assert stored(url, topic) == total

        # a store kept while the topic was made again (here: another topic given the store's
        # offsets, past its end): its partitions are cleared and folded from offset 0
        again = isolated_settings(PARTITIONS)
        asyncio.run(ensure_topics(again))
        try:
            fewer = produce(again, 0, 150)
            kept = tmp_path / "kept.sqlite3"
            with sqlite3.connect(tmp_path / "projections.sqlite3") as source, sqlite3.connect(kept) as copy:
                source.backup(copy)
                copy.execute("UPDATE projector_offsets SET topic = ?", (again.topics.run_status,))
            kept_url = f"sqlite:///{kept}"
            out, err = from_store(again, kept_url, COMMANDS[0])
            assert f"held partitions {list(range(PARTITIONS))} of an earlier {again.topics.run_status}" in err
            assert out == from_memory(monkeypatch, folded_in_memory(again), COMMANDS[0])[0]
            assert stored(kept_url, again.topics.run_status) == fewer
            assert_alike(monkeypatch, again, kept_url, COMMANDS[2:4])
        finally:
            delete_topics(again)
    finally:
        delete_topics(settings)


def test_a_missing_run_and_a_missing_topic_are_one_line_errors(tmp_path):
    settings = isolated_settings(PARTITIONS)
    url = f"sqlite:///{tmp_path / 'projections.sqlite3'}"
    missing = subprocess.run([sys.executable, str(ROOT / "cli.py"), "runs", "show", "run-1"], env=env(settings, url),
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith(f"error: topic {settings.topics.run_status} does not exist")
    assert not (tmp_path / "projections.sqlite3").exists(), "no store made for a topic that is not there"
    asyncio.run(ensure_topics(settings))
    try:
        produce(settings, 0, 3)
        unknown = subprocess.run([sys.executable, str(ROOT / "cli.py"), "runs", "show", "run-7"], env=env(settings, url),
                                 cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert unknown.returncode == 1 and unknown.stderr == f"error: no run 'run-7' on {settings.topics.run_status}\n"
    finally:
        delete_topics(settings)
