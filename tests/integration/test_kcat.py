"""Analysts read the run-status topic with an ordinary Kafka tool: kcat, then `automations decode`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from engine.school_events import SchoolEvent
from tests.integration.harness import ROOT
from tests.unit.projection_world import mixed_automations

pytestmark = pytest.mark.integration


@pytest.fixture
def kcat() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        message = "kcat is not installed (scripts/setup.sh installs it: apt-get install kcat)"
        if os.environ.get("AUTOMATIONS_REQUIRE_BROKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_kcat_reads_the_run_status_topic_and_decode_prints_the_records(start_worker, kcat):
    worker = start_worker(partitions=2)
    worker.save_and_activate(mixed_automations()[0])
    at = datetime.now(timezone.utc) + timedelta(seconds=1)
    worker.send([SchoolEvent(id="t1", type="user.tag_added", school="s1", user="ada", occurred_at=at, data={"tag": "new"})])
    expected = worker.wait_for("run_status", lambda rs: any(r.get("status") == "fulfilled" for r in rs))

    read = subprocess.run(
        [kcat, "-b", worker.settings.bootstrap_servers, "-C", "-t", worker.settings.topics.run_status,
         "-o", "beginning", "-e", "-q", "-f", "%S %s"],
        capture_output=True, timeout=60,
    )
    assert read.returncode == 0, read.stderr
    decoded = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "decode", "run-status"],
        input=read.stdout, capture_output=True, timeout=60, cwd=ROOT,
    )

    assert decoded.returncode == 0, decoded.stderr
    records = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert sorted((r["kind"], r.get("step_id") or "", r.get("status") or "") for r in records) == sorted(
        (r["kind"], r.get("step_id") or "", r.get("status") or "") for r in expected)
    started = next(r for r in records if r["kind"] == "run_started")
    assert (started["school"], started["user"], started["automation_id"]) == ("s1", "ada", "welcome")
