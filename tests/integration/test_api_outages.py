"""The API server through broker outages, on a real broker of the test's own that it
stops, starts and freezes (SIGSTOP of its java process): ingest answers 503 within
AUTOMATIONS_WRITE_TIMEOUT, /ready follows the broker away and back, and SIGTERM stops
the server within STOP_SECONDS whatever the broker does. Every wait is a poll with a
deadline; the figures measured are printed (pytest -s) and kept in bench/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from api.app import STOP_SECONDS
from engine import lifecycle as lc
from processors import definitions_log
from processors.kafka_io import ensure_topics, produce
from tests.integration.api_harness import ApiServer
from tests.integration.own_broker import broker, seconds_until  # noqa: F401 - broker: a fixture
from tests.integration.harness import delete_topics, isolated_settings
from tests.unit.projection_world import automation

pytestmark = pytest.mark.integration

WRITE_TIMEOUT = 10.0  # the default of AUTOMATIONS_WRITE_TIMEOUT
READY_FLIP = 10.0  # /ready says 503 within this of losing the broker
SLACK = 1.5  # the HTTP round trip and a busy shared machine


class NoWorker:
    """What ApiServer needs of a worker: the environment of the topics (no worker runs)."""

    def __init__(self, settings) -> None:
        self.settings = settings

    def env(self) -> dict[str, str]:
        return {**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": self.settings.bootstrap_servers,
                "AUTOMATIONS_TOPIC_PREFIX": self.settings.topics.prefix, "AUTOMATIONS_APP_ID": self.settings.app_id,
                "AUTOMATIONS_PARTITIONS": str(self.settings.partitions)}


@pytest.fixture
def api(broker, tmp_path):
    settings = replace(isolated_settings(partitions=2), bootstrap_servers=f"127.0.0.1:{broker.port}")
    servers: list[ApiServer] = []
    # An automation with a wait step, for an operator command (advance) during the outage.
    flow = automation("paced", {"event": "course.enrolled"}, [
        {"id": "hello", "type": "send_email", "template": "t"},
        {"id": "pause", "type": "wait_duration", "amount": 1, "unit": "days"},
        {"id": "bye", "type": "send_email", "template": "t"}])
    asyncio.run(ensure_topics(settings))
    now = datetime.now(timezone.utc)
    for command in (lc.SaveAutomation(automation=flow, now=now), lc.ActivateAutomation(automation_id=flow.id, now=now)):
        assert not isinstance(asyncio.run(definitions_log.execute(settings, command)), lc.Rejected)

    def start() -> ApiServer:
        folder = tmp_path / f"api{len(servers)}"
        folder.mkdir()
        server = ApiServer(NoWorker(settings), folder, ["s1"])
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        if server.process and server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
    broker.start()  # a test that left it stopped; a no-op when it runs
    delete_topics(settings)


def an_event(event_id: str) -> dict:
    return {"id": event_id, "type": "user.tag_added", "school": "s1", "user": "u1",
            "occurred_at": datetime.now(timezone.utc).isoformat(), "data": {"tag": "x"}}


def ingest_in_background(server: ApiServer, event_id: str) -> dict:
    return in_background(server, "/events", an_event(event_id))


def in_background(server: ApiServer, path: str, body=None) -> dict:
    """POST on a thread; the dict gets `status`, `body` and `seconds` once answered."""
    answer: dict = {}

    def post() -> None:
        began = time.monotonic()
        try:
            answer["status"], answer["body"] = server.school("s1", "POST", path, body)
        except OSError as error:  # no answer at all: the connection was closed
            answer["status"], answer["body"] = None, repr(error)
        answer["seconds"] = time.monotonic() - began

    answer["thread"] = threading.Thread(target=post, daemon=True)
    answer["thread"].start()
    return answer


def ready_status(server: ApiServer) -> int | None:
    try:
        return server.call("GET", "/ready")[0]
    except OSError:
        return None


def answered(answer: dict, timeout: float) -> dict:
    answer["thread"].join(timeout)
    assert not answer["thread"].is_alive(), f"no answer within {timeout}s"
    return answer


def report(figure: str, seconds: float) -> None:
    print(f"\n{figure}: {seconds:.2f} s", file=sys.stderr)


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_ingest_answers_503_within_10s_and_ready_follows_the_broker_away_within_10s_and_back(broker, api, outage):
    server = api()
    assert server.school("s1", "POST", "/events", an_event("before"))[0] == 202

    # when the broker is stopped, or frozen with its socket still open
    freeze = broker.frozen() if outage == "frozen" else None
    if freeze:
        freeze.__enter__()
    else:
        broker.stop()
    try:
        lost = time.monotonic()
        answer = ingest_in_background(server, f"during-{outage}")
        command = in_background(server, "/automations/paced/steps/pause/advance")

        # then /ready says 503 within 10 s, with why
        flip = seconds_until(lambda: ready_status(server) == 503, READY_FLIP + SLACK)
        status, body = server.call("GET", "/ready")
        assert status == 503 and body["broker_answering"] is False, body
        # and the caller gets a 503 saying to send again, within the write bound
        answered(answer, WRITE_TIMEOUT + 3 * SLACK)
        assert answer["status"] == 503 and "send them again" in answer["body"]["error"], answer
        assert answer["body"]["event_ids"] == [f"during-{outage}"]
        assert answer["seconds"] <= WRITE_TIMEOUT + SLACK, answer["seconds"]
        report(f"{outage} broker: ingest answered 503 after", answer["seconds"])
        # and so does an operator's command
        answered(command, WRITE_TIMEOUT + 3 * SLACK)
        assert command["status"] == 503 and "ask again" in command["body"]["error"], command
        assert command["seconds"] <= WRITE_TIMEOUT + SLACK, command["seconds"]
        report(f"{outage} broker: advance answered 503 after", command["seconds"])
        report(f"{outage} broker: /ready 503 after", flip)
        assert time.monotonic() - lost < 60
    finally:
        if freeze:
            freeze.__exit__(None, None, None)
        else:
            broker.start()

    # and once the broker is back, /ready says 200 again and ingest takes events
    back = seconds_until(lambda: ready_status(server) == 200, 60)
    report(f"{outage} broker back: /ready 200 after", back)
    status, body = server.school("s1", "POST", "/events", an_event(f"after-{outage}"))
    assert status == 202, body
    # and the views read on: a record written to run status now reaches them
    asyncio.run(produce(server.worker.settings, server.worker.settings.topics.run_status, [("s1:u1", b"not a run")]))
    server.eventually(lambda: server.operator("GET", "/operator/projections")[1]["undecodable"], lambda n: n == 1, 30)


@pytest.mark.parametrize("state", ["up", "stopped", "frozen"])
def test_sigterm_stops_the_api_within_10s_and_answers_the_caller_in_flight(broker, api, state):
    server = api()
    freeze = broker.frozen() if state == "frozen" else None
    try:
        if freeze:
            freeze.__enter__()
        elif state == "stopped":
            broker.stop()
        if state != "up":  # the outage as the server lives it: its clients retrying, /ready 503
            seconds_until(lambda: ready_status(server) == 503, READY_FLIP + SLACK)
            answer = ingest_in_background(server, f"in-flight-{state}")
            # the stop must answer a caller the server holds, not drop it
            seconds_until(lambda: server.call("GET", "/ready")[1]["writes_waiting"] == 1, WRITE_TIMEOUT)

        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=STOP_SECONDS + 20)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - began
        report(f"SIGTERM with the broker {state}: stopped after", took)

        assert code == 0, f"exit {code} after {took:.1f}s\n{server.log_tail()}"
        assert took <= STOP_SECONDS, f"{took:.1f}s\n{server.log_tail()}"
        if state != "up":
            answered(answer, 5)
            assert answer["status"] == 503 and "send them again" in json.dumps(answer["body"]), answer
    finally:
        if freeze:
            freeze.__exit__(None, None, None)
