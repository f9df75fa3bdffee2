"""The worker through broker outages, on a broker of the test's own that it stops, starts
and freezes: `/ready` says 503 within 10 s of losing the broker and 200 again once it is
back; a broker restart in the middle of the worker's transactions loses and repeats
nothing (a `read_committed` reader sees every action once); SIGTERM stops the worker
within 10 s, the broker up, stopped or frozen. Every wait is a poll with a deadline; the
figures are printed (pytest -s).
"""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from engine.school_events import SchoolEvent
from tests.integration.harness import Worker, delete_topics, isolated_settings
from tests.integration.own_broker import broker, seconds_until  # noqa: F401 - broker: a fixture
from tests.unit.projection_world import automation

pytestmark = pytest.mark.integration

READY_FLIP = 10.0
STOP_SECONDS = 10.0
SLACK = 1.5


@pytest.fixture
def worker(broker, tmp_path):
    settings = replace(isolated_settings(partitions=2), bootstrap_servers=f"127.0.0.1:{broker.port}")
    started = Worker(settings, tmp_path / "worker", tmp_path / "worker.log").start()
    yield started
    started.kill()
    broker.start()  # a test that left it stopped; a no-op when it runs
    delete_topics(settings)


def ready_status(worker: Worker) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/ready/", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def report(figure: str, seconds: float) -> None:
    print(f"\n{figure}: {seconds:.2f} s", file=sys.stderr)


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_ready_says_503_within_10s_of_losing_the_broker_and_200_once_it_is_back(broker, worker, outage):
    assert ready_status(worker) == 200
    if outage == "frozen":
        with broker.frozen():
            flip = seconds_until(lambda: ready_status(worker) == 503, READY_FLIP + SLACK)
    else:
        broker.stop()
        flip = seconds_until(lambda: ready_status(worker) == 503, READY_FLIP + SLACK)
        broker.start()
    back = seconds_until(lambda: ready_status(worker) == 200, 60)
    report(f"worker /ready 503 after the broker was {outage}", flip)
    report(f"worker /ready 200 after the broker returned ({outage})", back)
    assert worker.process.poll() is None


def test_a_broker_restart_in_the_middle_of_transactions_loses_and_repeats_nothing(broker, worker):
    welcome = automation("welcome", {"event": "user.tag_added", "tag": "new"},
                         [{"id": "hello", "type": "send_email", "template": "hello"}])
    worker.save_and_activate(welcome)
    at = datetime.now(timezone.utc)
    events = [SchoolEvent(id=f"e{n}", type="user.tag_added", school="s1", user=f"u{n}", occurred_at=at + timedelta(milliseconds=n),
                          data={"tag": "new"}) for n in range(3000)]
    worker.send(events[:1500])
    # when the broker restarts while the worker is taking those in
    broker.stop()
    broker.start()
    worker.send(events[1500:])
    # then every learner gets exactly one email, once the worker is back by itself
    actions = worker.wait_for("actions", lambda found: len(found) >= 3000, timeout=180)
    keys = [action["idempotency_key"] for action in actions]
    assert len(keys) == len(set(keys)) == 3000
    starts = [r for r in worker.records("run_status") if r["kind"] == "run_started"]
    assert len(starts) == len({r["run_id"] for r in starts}) == 3000
    assert worker.process.poll() is None
    seconds_until(lambda: ready_status(worker) == 200, 60)


@pytest.mark.parametrize("broker_state", ["up", "stopped", "frozen"])
def test_sigterm_stops_the_worker_within_10s_whatever_the_broker_does(broker, worker, broker_state):
    def stop_worker() -> float:
        began = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        worker.process.wait(timeout=STOP_SECONDS + 20)
        return time.monotonic() - began

    if broker_state == "frozen":
        with broker.frozen():
            time.sleep(0)  # the worker meets a broker that takes connections and answers nothing
            seconds = stop_worker()
    else:
        if broker_state == "stopped":
            broker.stop()
        seconds = stop_worker()
    report(f"worker SIGTERM to exit, broker {broker_state}", seconds)
    assert seconds <= STOP_SECONDS, seconds
