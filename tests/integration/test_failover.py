"""Failover: two workers on 8 partitions, one stops mid-flow, the other finishes every run.

Given two workers of one consumer group sharing the learners' 8 partitions,
and the short crash flow (an email, a 1-hour wait, a tag, a 1-day wait, a
branch both ways) for 400 learners; when one worker leaves in the middle of
the 1-hour timers (stopped cleanly, killed with SIGKILL, or frozen with
SIGSTOP past its session timeout and let go again once the other holds its
partitions: a zombie, whose late transaction must be fenced), then the other
takes its partitions over, rebuilding their state from the changelogs, and
every run ends exactly as `simulate` says (steps, status, every action's key
and instant), no action lost, no timer left behind, the set of live runs
matches, and no action or run-status record is seen twice. The takeover time
(until the survivor holds every partition) is printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request

import pytest

from bench import chaos

pytestmark = pytest.mark.integration

LEARNERS = 400


def held_partitions(worker) -> int:
    """How many partitions the worker holds and serves (0 while it rebalances)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/ready/", timeout=2) as response:
            return json.loads(response.read())["partitions"]
    except OSError:
        return 0


class Failover(chaos.Chaos):
    """Instead of crashing and restarting, the second worker leaves for good."""

    def __init__(self, workers, leave: str, all_partitions: int):
        super().__init__(workers, "short", LEARNERS, kills=0, wipes=0, say=print)
        self.plan = {1: [0.4]}  # during the 1-hour timers, 40% through
        self.leave = leave
        self.all_partitions = all_partitions
        self.left: tuple | None = None
        self.takeover_seconds: float | None = None
        self._watch: asyncio.Task | None = None

    async def disrupt(self, phase, seen, expected, pending) -> None:
        survivor, leaving = self.workers
        self.left = (phase.what, seen, expected, pending)
        began = time.monotonic()
        if self.leave == "freeze":
            os.kill(leaving.process.pid, signal.SIGSTOP)
        else:
            await asyncio.to_thread(leaving.stop if self.leave == "stop" else leaving.kill)
        self.log(f"{self.leave}: worker 2 left during {phase.what} at {seen}/{expected}, {pending} timers pending")
        self._watch = asyncio.create_task(self._takeover(survivor, began, leaving))
        if self.leave == "freeze":
            await self._watch  # the zombie wakes once its partitions are another's

    async def _takeover(self, survivor, began: float, leaving) -> None:
        while await asyncio.to_thread(held_partitions, survivor) < self.all_partitions:
            await asyncio.sleep(0.2)
        self.takeover_seconds = time.monotonic() - began
        self.log(f"worker 1 holds every partition {self.takeover_seconds:.1f}s after worker 2 left")
        if self.leave == "freeze":
            os.kill(leaving.process.pid, signal.SIGCONT)
            self.log("worker 2 let go again: whatever it had not committed must be fenced")

    async def run(self):
        report = await super().run()
        if self._watch is not None:
            await asyncio.wait_for(self._watch, timeout=30)
        return report


@pytest.mark.parametrize("leave", ["stop", "kill", "freeze"])
def test_the_other_worker_takes_over_and_finishes_every_run(start_worker, leave):
    first = start_worker(partitions=8, name="worker-1", extra_env=chaos.PACED)
    first.clock(pin=chaos.T0)
    all_partitions = held_partitions(first)
    second = start_worker(settings=first.settings, name="worker-2", extra_env=chaos.PACED)
    second.clock(pin=chaos.T0)
    first.wait_ready(60)
    assert 0 < held_partitions(first) < all_partitions, "the two workers share the partitions"

    failover = Failover([first, second], leave, all_partitions)
    try:
        report = asyncio.run(failover.run())
    except AssertionError:
        # Kept with the failure: pytest removes old temporary folders, the workers' logs with them.
        for number, worker in enumerate((first, second), start=1):
            print(f"--- worker {number}: the end of its log\n{worker.log_tail(150)}")
            if worker.process is not None and worker.process.poll() is None:
                print(f"--- worker {number}: metrics\n{worker.metrics()}")
        raise
    print("\n".join(report.lines()))
    print(f"takeover: {failover.takeover_seconds:.1f}s after worker 2 {dict(stop='stopped', kill='was killed', freeze='froze')[leave]}")

    assert failover.left is not None and failover.left[1] < failover.left[2], "worker 2 left mid-flow"
    assert failover.left[3] > 0, "with waits pending"
    assert failover.takeover_seconds is not None
    assert report.runs_expected == report.runs_seen == LEARNERS
    assert not report.runs_lost and not report.runs_unexpected
    assert not report.runs_different, report.runs_different[:3]
    assert not report.actions_lost and not report.actions_unexpected
    assert report.duplicate_actions == 0 and report.duplicate_statuses == 0, report.duplicates_differing[:3]
    assert not report.timers_left_pending, report.timers_left_pending[:3]
    assert report.live_runs_counted == report.live_runs_expected, "every run start and end taken in"
