"""Talking to a running worker's HTTP port from outside: readiness and the test clock.

Used by the demo, the tests and the benchmarks, so they all wait on the same
signal (`GET /ready/`) instead of sleeping, and move the test clock alike.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import datetime


class WorkerNotReady(Exception):
    """The worker exited, or did not answer ready in time; the message says which."""


def is_ready(web_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/ready/", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_ready(web_port: int, process: subprocess.Popen, timeout: float, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WorkerNotReady(f"the worker exited with code {process.returncode}")
        if is_ready(web_port):
            return
        time.sleep(poll)
    raise WorkerNotReady(f"the worker was not ready within {timeout:g}s")


def move_clock(web_port: int, advance_seconds: float = 0, pin: datetime | None = None) -> datetime:
    """Pin and/or advance a worker's test clock (AUTOMATIONS_TEST_CLOCK=1); returns its new now."""
    body: dict = {"advance_seconds": advance_seconds}
    if pin is not None:
        body["pin"] = pin.isoformat()
    request = urllib.request.Request(
        f"http://127.0.0.1:{web_port}/test/clock/", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return datetime.fromisoformat(json.loads(response.read())["now"])
