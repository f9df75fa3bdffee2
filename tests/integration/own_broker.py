"""A Kafka broker of a test's own, in a home of its own, that the test may stop, start and freeze.

For the outage tests (the API's and the worker's): the shared test broker must never
go away under the other tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.harness import ROOT, free_broker_port


class OwnBroker:
    """A broker in a home of its own, for one test module alone."""

    def __init__(self, home, port: int) -> None:
        self.env = {**os.environ, "AUTOMATIONS_KAFKA_HOME": str(home), "AUTOMATIONS_BROKER_PORT": str(port)}
        self.port = port

    def run(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "broker.kafka", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode in (0, 3), result.stdout + result.stderr
        return result.stdout

    def start(self) -> None:
        self.run("start", "--wait", "120")

    def stop(self) -> None:
        self.run("stop")

    def pid(self) -> int:
        return int(self.run("status").split("(pid ")[1].split(")")[0])

    @contextmanager
    def frozen(self):
        """SIGSTOP the broker for the block; after SIGCONT, wait until it serves again. A
        KRaft node frozen past its session is fenced by its own controller when it thaws,
        and answers metadata with no broker in it until its next heartbeat."""
        pid = self.pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)
            self.wait_serving()

    def wait_serving(self, timeout: float = 60) -> None:
        seconds_until(lambda: lists_a_broker(f"127.0.0.1:{self.port}"), timeout, every=0.2)


def lists_a_broker(bootstrap: str) -> bool:
    """True when a metadata request names at least one live broker."""

    async def ask() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            return bool((await admin.describe_cluster())["brokers"])
        except Exception:  # noqa: BLE001 - any failure means not serving yet
            return False
        finally:
            await admin.close()

    return asyncio.run(ask())


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker of this test module's own, running; stopped after the module's last test."""
    own = OwnBroker(tmp_path_factory.mktemp("outage-broker"), free_broker_port())
    own.start()
    try:
        yield own
    finally:
        own.stop()


def seconds_until(check, timeout: float, every: float = 0.1) -> float:
    """Seconds until check() is true, polling; fails after `timeout`."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s")
