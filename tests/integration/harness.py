"""A real worker on the real broker, for integration tests.

`Worker` starts `cli.py worker` as a separate process with its own topic
prefix, consumer group, data folder and HTTP port (so tests never see each
other's records), with the controllable clock enabled. It can be stopped,
killed with SIGKILL and restarted on the same state, and it offers the few
helpers tests need: save and activate definitions, send events, move the
clock, and wait until a topic holds what a test expects.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from aiokafka.admin import AIOKafkaAdminClient

from engine import lifecycle as lc
from engine.definitions import Automation
from engine.school_events import SchoolEvent
from processors import definitions_log, metrics
from processors.config import Settings, Topics
from processors.ingest import send_events
from processors.kafka_io import ensure_topics, read_to_end
from processors.worker_client import WorkerNotReady, move_clock, wait_ready
from schemas.codec import decode

ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "actions": "action",
    "run_status": "run_status",
    "dead_letter": "dead_letter",
    "delays": "timer",
    "receipts": "receipt",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_broker_port() -> int:
    """A port for a test's own broker, with its controller's (port + 1) free too, below
    Linux's ephemeral range: `broker start` refuses ports inside it (a client reconnecting
    while the broker is down can connect to itself there)."""
    from broker import kafka

    low = (kafka.ephemeral_range() or (32768, 60999))[0]
    ports = list(range(max(1025, low - 8000), low - 2))
    random.shuffle(ports)  # tests running side by side rarely pick the same
    for port in ports[:2000]:
        if kafka._port_free(port) and kafka._port_free(port + 1):
            return port
    raise RuntimeError(f"no free port pair below {low}")


def isolated_settings(partitions: int = 4) -> Settings:
    name = f"t{uuid.uuid4().hex[:10]}"
    base = Settings()
    return replace(base, partitions=partitions, app_id=f"{name}-app", topics=Topics(prefix=name))


def delete_topics(settings: Settings) -> None:
    """Delete a test's topics (its unique prefix), so the shared broker does not pile them up."""

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            names = [name for name in await admin.list_topics() if name.startswith(settings.topics.prefix)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()

    asyncio.run(delete())


class Worker:
    def __init__(self, settings: Settings, data_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None):
        self.settings = settings
        self.extra_env = extra_env or {}
        self.data_dir = data_dir
        self.log_path = log_path
        self.web_port = free_port()
        self.process: subprocess.Popen | None = None
        # The instant the test pinned the clock at, carried over to a restarted
        # worker so a crash does not send the test's time back to the wall's.
        self.pinned: datetime | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AUTOMATIONS_KAFKA_BOOTSTRAP": self.settings.bootstrap_servers,
            "AUTOMATIONS_TOPIC_PREFIX": self.settings.topics.prefix,
            "AUTOMATIONS_APP_ID": self.settings.app_id,
            "AUTOMATIONS_PARTITIONS": str(self.settings.partitions),
            "AUTOMATIONS_DATA_DIR": str(self.data_dir),
            "AUTOMATIONS_WEB_PORT": str(self.web_port),
            "AUTOMATIONS_TEST_CLOCK": "1",
            "AUTOMATIONS_TEST_CLOCK_PIN": self.pinned.isoformat() if self.pinned else "",
            "AUTOMATIONS_TIMER_INTERVAL": "0.1",
            # The broker's minimum: a killed worker's partitions move within seconds.
            "AUTOMATIONS_SESSION_TIMEOUT": "6",
            **self.extra_env,
        }

    # ------------------------------------------------------------ process

    def start(self, timeout: float = 90.0) -> "Worker":
        asyncio.run(ensure_topics(self.settings))
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), "worker", "--loglevel", "warn"],
            env=self.env(), stdout=log, stderr=log, cwd=ROOT, start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        try:
            wait_ready(self.web_port, self.process, timeout)
        except WorkerNotReady as error:
            raise RuntimeError(f"{error}; log: {self.log_tail()}") from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------ clock

    def clock(self, advance_seconds: float = 0, pin: datetime | None = None) -> datetime:
        now = move_clock(self.web_port, advance_seconds, pin)
        if pin is not None or self.pinned is not None:
            self.pinned = now
        return now

    def metrics(self) -> dict:
        """The worker's `GET /metrics/`, parsed: (name, labels) -> value."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics/", timeout=5) as r:
            return metrics.parse(r.read().decode())

    def loaded_definitions(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/test/definitions/", timeout=5) as r:
            return json.loads(r.read())["versions"]

    def wait_for_definitions(self, versions: dict[str, int], timeout: float = 30.0) -> None:
        """Until this worker's catalog holds at least these automation versions."""
        deadline = time.monotonic() + timeout
        loaded: dict[str, int] = {}
        while time.monotonic() < deadline:
            loaded = self.loaded_definitions()
            if all(loaded.get(a, -1) >= v for a, v in versions.items()):
                return
            time.sleep(0.05)
        raise AssertionError(f"worker loaded {loaded}, not {versions}, within {timeout}s")

    # ------------------------------------------------------------ data

    def save_and_activate(self, automation: Automation, now: datetime | None = None) -> Automation:
        """Save and activate at `now` (default: the wall clock); returns once this
        worker has loaded the active version, so events sent next meet it."""
        now = now or datetime.now(timezone.utc)
        for command in (
            lc.SaveAutomation(automation=automation, now=now),
            lc.ActivateAutomation(automation_id=automation.id, now=now),
        ):
            result = asyncio.run(definitions_log.execute(self.settings, command))
            assert not isinstance(result, lc.Rejected), result
        active = result[1].automations[automation.id]
        self.wait_for_definitions({active.id: active.version})
        return active

    def send(self, events: list[SchoolEvent], want_receipts: bool = False) -> None:
        asyncio.run(send_events(self.settings, events, want_receipts=want_receipts))

    def records(self, topic: str) -> list[dict]:
        name = getattr(self.settings.topics, topic)

        async def read():
            return [decode(KINDS[topic], r.value) async for r in read_to_end(self.settings, name)]

        return asyncio.run(read())

    def wait_for(self, topic: str, done: Callable[[list[dict]], bool], timeout: float = 60.0) -> list[dict]:
        """Poll a topic until `done(records)`; the timeout is a failure, never a pass."""
        deadline = time.monotonic() + timeout
        records: list[dict] = []
        while time.monotonic() < deadline:
            records = self.records(topic)
            if done(records):
                return records
            time.sleep(0.25)
        raise AssertionError(
            f"{topic} never satisfied the test within {timeout}s; last {len(records)} record(s): "
            f"{records[-5:]}\nworker log:\n{self.log_tail()}"
        )
