"""Chaos: kill -9 the worker again and again while many learners wait, then count what was lost.

A real worker (tests/integration/harness.py) on the real broker runs a crash
flow (tests/integration/fixtures/definitions/): `full` is an email, waits of
1 hour, 1 day and 2 days, a tag, a branch taken both ways, an exit; `short`
stops after the branch (two waits). Every learner registers and enrolls, and
the worker's clock is pinned and walked through the flow's instants: the
enrollments, each wait's timers and (full) some learners completing the
course. K times, in the middle of one instant's work, the worker is killed
with SIGKILL and started again on the same data folder (or, for the last
`--wipes` kills, on an empty one, so it rebuilds its state from the
changelogs alone).

`engine.simulation.simulate` says what the same events must give. At the end
(once the worker has committed every input) it reports what a `read_committed`
consumer saw: runs, statuses, timers and actions lost, anything unexpected,
and duplicates: action records of one step seen more than once (each checked
to be an exact copy of the first) and run-status records seen twice. The
worker processes exactly once, so both counts must be 0.

    python bench/chaos.py [--learners 1000] [--kills 6] [--wipes 1] [--partitions 8] [--flow full|short]

The integration test tests/integration/test_crash.py is its short form.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.definitions import Automation  # noqa: E402
from engine.documents import load_document  # noqa: E402
from engine.school_events import SchoolEvent  # noqa: E402
from engine.simulation import simulate  # noqa: E402
from processors.ingest import send_events  # noqa: E402
from processors.kafka_io import read_to_end  # noqa: E402
from tests.integration.harness import Worker, delete_topics, isolated_settings  # noqa: E402
from tests.integration.timeline import Observed, Timeline, observed_live, simulated, utc  # noqa: E402

DEFINITIONS = Path(__file__).resolve().parents[1] / "tests" / "integration" / "fixtures" / "definitions"
SCHOOL = "chaos-school"
T0 = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
HOUR = T0 + timedelta(hours=1)


@dataclass(frozen=True)
class Phase:
    at: datetime
    what: str
    completions: bool = False  # every 10th learner completes the course (the exit)


# flow name -> (definition file, the instants the clock is pinned at after the enrollments)
FLOWS = {
    # an email, waits of 1 hour, 1 day and 2 days, a tag, a branch both ways, an exit
    "full": (
        "crash-flow.yaml",
        [
            Phase(HOUR, "1-hour timers"),
            Phase(HOUR + timedelta(minutes=10), "exits", completions=True),
            Phase(HOUR + timedelta(days=1), "1-day timers"),
            Phase(HOUR + timedelta(days=3), "2-day timers"),
        ],
    ),
    # the same up to the branch, with two waits: the integration test's short form
    "short": ("crash-flow-short.yaml", [Phase(HOUR, "1-hour timers"), Phase(HOUR + timedelta(days=1), "1-day timers")]),
}


def crash_flow(flow: str) -> Automation:
    path = DEFINITIONS / FLOWS[flow][0]
    return Automation.model_validate(load_document(path.read_text(), path.name))


def events_of(phase: Phase, learners: int) -> list[SchoolEvent]:
    """Every learner registers (every 3rd on the vip plan: the branch's Yes) and enrolls at T0."""

    def event(kind: str, number: int, **data) -> SchoolEvent:
        user = f"learner-{number:05d}"
        return SchoolEvent(id=f"{kind}-{user}", type=kind, school=SCHOOL, user=user, occurred_at=phase.at, data=data)

    if phase.at == T0:
        return [
            e
            for n in range(learners)
            for e in (
                event("user.registered", n, email=f"{n}@example.org", fields={"plan": "vip" if n % 3 == 0 else "basic"}),
                event("course.enrolled", n, course="chaos-101"),
            )
        ]
    if phase.completions:
        return [event("course.completed", n, course="chaos-101") for n in range(0, learners, 10)]
    return []


def phases(flow: str) -> list[Phase]:
    return [Phase(T0, "enrollments"), *FLOWS[flow][1]]


def marks(observed: Observed, history_at: dict[str, list[tuple[str, str]]]) -> dict[str, set[str]]:
    """What must be seen by each instant: action keys and (run, status) changes, by UTC time."""
    by_time: dict[str, set[str]] = defaultdict(set)
    for run in observed.runs.values():
        for action in run.actions:
            key, _, at = action.partition(" ")
            by_time[at.rsplit("@", 1)[1]].add(f"action {key}")
    for run_id, changes in history_at.items():
        for status, at in changes:
            by_time[at].add(f"status {run_id} {status} {at}")
    return by_time


class LiveMarks:
    """What the topics show so far, in the form of `marks`, read incrementally."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._read = {"actions": 0, "run_status": 0}

    def update(self, records: dict[str, list[dict]]) -> set[str]:
        actions, statuses = records["actions"], records["run_status"]
        self.seen.update(f"action {a['idempotency_key']}" for a in actions[self._read["actions"]:])
        self.seen.update(
            f"status {r['run_id']} {r['status']} {utc(r['at'])}"
            for r in statuses[self._read["run_status"]:]
            if r["kind"] == "run_status_changed"
        )
        self._read = {"actions": len(actions), "run_status": len(statuses)}
        return self.seen


@dataclass
class Kill:
    phase: str
    seen: int
    expected: int
    pending_timers: int
    restart_seconds: float = 0.0
    wiped: bool = False


@dataclass
class Report:
    learners: int
    kills: list[Kill] = field(default_factory=list)
    runs_expected: int = 0
    runs_seen: int = 0
    runs_lost: list[str] = field(default_factory=list)
    runs_unexpected: list[str] = field(default_factory=list)
    runs_different: list[str] = field(default_factory=list)
    actions_expected: int = 0
    action_records: int = 0
    actions_unique: int = 0
    actions_lost: list[str] = field(default_factory=list)
    actions_unexpected: list[str] = field(default_factory=list)
    duplicate_actions: int = 0
    duplicate_statuses: int = 0  # run-status records seen twice, to the byte
    duplicated_steps: int = 0
    duplicates_differing: list[str] = field(default_factory=list)
    timers_left_pending: list[str] = field(default_factory=list)
    dead_letters: int = 0
    # Runs still live at the end, as the simulation says and as the worker's set of
    # live runs (what a finishing delete waits on) says, read from its changelog.
    live_runs_expected: int = 0
    live_runs_counted: int | None = None
    seconds: float = 0.0

    @property
    def lost_anything(self) -> bool:
        return bool(self.runs_lost or self.runs_different or self.actions_lost or self.timers_left_pending
                    or self.live_runs_counted != self.live_runs_expected)

    def lines(self) -> list[str]:
        out = [
            f"learners {self.learners}, kills {len(self.kills)}, {self.seconds:.0f} s",
            *(
                f"  kill {n}: during {k.phase} at {k.seen}/{k.expected} outputs, {k.pending_timers} timers pending; "
                f"back in {k.restart_seconds:.1f} s{' (data folder wiped)' if k.wiped else ''}"
                for n, k in enumerate(self.kills, start=1)
            ),
            f"runs: {self.runs_seen} seen of {self.runs_expected} expected; lost {len(self.runs_lost)}, "
            f"unexpected {len(self.runs_unexpected)}, differing from the simulation {len(self.runs_different)}",
            f"actions: {self.actions_unique} distinct of {self.actions_expected} expected in {self.action_records} records; "
            f"lost {len(self.actions_lost)}, unexpected {len(self.actions_unexpected)}",
            f"duplicates: {self.duplicate_actions} extra action records over {self.duplicated_steps} steps, "
            f"{len(self.duplicates_differing)} not identical to the first (key and content); "
            f"{self.duplicate_statuses} run-status records seen twice",
            f"timers left pending: {len(self.timers_left_pending)}; dead letters: {self.dead_letters}",
            f"live runs counted: {self.live_runs_counted} of {self.live_runs_expected} expected",
        ]
        for label, items in (
            ("lost run", self.runs_lost),
            ("differing run", self.runs_different),
            ("lost action", self.actions_lost),
            ("differing duplicate", self.duplicates_differing),
            ("pending timer", self.timers_left_pending),
        ):
            out += [f"  {label}: {item}" for item in items[:5]]
        return out


def deduplicated(records: list[dict]) -> list[dict]:
    """Exact copies dropped (a re-sent output), first occurrences kept in order."""
    seen, kept = set(), []
    for record in records:
        identity = json.dumps(record, sort_keys=True, default=str)
        if identity not in seen:
            seen.add(identity)
            kept.append(record)
    return kept


def compare(report: Report, timeline: Timeline, expected: Observed) -> None:
    actions, statuses = timeline.records["actions"], timeline.records["run_status"]
    unique_statuses = deduplicated(statuses)
    report.duplicate_statuses = len(statuses) - len(unique_statuses)
    live = observed_live(unique_statuses, deduplicated(actions))
    report.runs_expected, report.runs_seen = len(expected.runs), len(live.runs)
    report.runs_lost = sorted(set(expected.runs) - set(live.runs))
    report.runs_unexpected = sorted(set(live.runs) - set(expected.runs))
    report.runs_different = [
        f"{run_id}: live {live.runs[run_id]} != simulated {run}"
        for run_id, run in expected.runs.items()
        if run_id in live.runs and live.runs[run_id] != run
    ]
    expected_keys = {action.split(" ", 1)[0] for run in expected.runs.values() for action in run.actions}
    seen_keys = {a["idempotency_key"] for a in actions}
    report.actions_expected, report.action_records, report.actions_unique = len(expected_keys), len(actions), len(seen_keys)
    report.actions_lost = sorted(expected_keys - seen_keys)
    report.actions_unexpected = sorted(seen_keys - expected_keys)
    by_step: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for action in actions:
        by_step[(action["run_id"], action["step_id"])].append(action)
    for step, copies in by_step.items():
        if len(copies) > 1:
            report.duplicated_steps += 1
            report.duplicate_actions += len(copies) - 1
            report.duplicates_differing += [f"{step}: {copy} != {copies[0]}" for copy in copies[1:] if copy != copies[0]]
    report.timers_left_pending = sorted(timeline.pending)
    report.dead_letters = len(timeline.records["dead_letter"])


async def live_run_count(settings, automation_key: str) -> int | None:
    """How many runs of an automation the worker holds live (processors.finishing_agent), from
    its changelog; None if it never wrote one (so a set never filled is not taken for empty)."""
    prefix, live = f"{automation_key}|", {}
    async for record in read_to_end(settings, f"{settings.app_id}-live-runs-changelog"):
        if record.key is not None and record.key.startswith(prefix):
            live[record.key] = bool(record.value)
    return sum(live.values()) if live else None


# A worker fires 1,000 due timers in a fraction of a second (two batches): fewer per batch
# (one transaction each) spread an instant's work over enough batches for a kill to land
# in its middle, which is where a kill tests something.
PACED = {"AUTOMATIONS_TIMER_BATCH": "10", "AUTOMATIONS_BATCH_SIZE": "50"}


def kill_plan(kills: int, plan_phases: list[Phase]) -> dict[int, list[float]]:
    """Phase index -> the fractions of its outputs at which to kill, spread over the phases with work."""
    order = [index for index, phase in enumerate(plan_phases) if not phase.completions]
    plan: dict[int, list[float]] = defaultdict(list)
    for n in range(kills):
        plan[order[n % len(order)]].append(0.0)
    for phase, slots in plan.items():
        plan[phase] = [0.8 * (m + 1) / (len(slots) + 1) for m in range(len(slots))]
    return plan


class Chaos:
    """Drives the phases, disrupting the worker as planned; `workers` share one consumer group.

    `disrupt` kills the worker and starts it again; a subclass may disrupt otherwise
    (tests/integration/test_failover.py stops one of two workers for good).
    """

    def __init__(self, workers: list[Worker], flow: str, learners: int, kills: int, wipes: int, say: Callable[[str], None]):
        self.workers = workers
        self.worker = workers[0]
        self.flow = flow
        self.learners = learners
        self.phases = phases(flow)
        self.plan = kill_plan(kills, self.phases)
        self.wipe_from = kills - wipes + 1  # kills numbered from 1; the last `wipes` ones wipe
        self.say = say
        self.report = Report(learners)
        self.marks = LiveMarks()
        self.started = time.monotonic()

    def log(self, text: str) -> None:
        self.say(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    def pin(self, instant: datetime) -> None:
        """Pin the clock of every running worker (each has its own)."""
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.clock(pin=instant)

    async def disrupt(self, phase: Phase, seen: int, expected: int, pending: int) -> None:
        self.worker.kill()
        kill = Kill(phase.what, seen, expected, pending)
        self.report.kills.append(kill)
        if len(self.report.kills) >= self.wipe_from:
            shutil.rmtree(self.worker.data_dir, ignore_errors=True)
            kill.wiped = True
        self.log(f"kill -9 #{len(self.report.kills)} during {phase.what} at {seen}/{expected}, {pending} timers pending"
                 f"{'; data folder wiped' if kill.wiped else ''}")
        began = time.monotonic()
        await asyncio.to_thread(self.worker.start)  # the harness runs its own event loop
        kill.restart_seconds = time.monotonic() - began
        self.log(f"worker back in {kill.restart_seconds:.1f}s")

    async def run_phase(self, timeline: Timeline, phase: Phase, index: int, due: set[str], new: set[str]) -> None:
        self.pin(phase.at)
        events = events_of(phase, self.learners)
        if events:
            await send_events(self.worker.settings, events)
        self.log(f"{phase.what} at {utc(phase.at)}: {len(events)} events sent, {len(new)} outputs expected")
        fractions = list(self.plan.get(index, []))
        deadline, last_said = time.monotonic() + 120, time.monotonic()
        while True:
            await timeline.poll(50)
            seen = self.marks.update(timeline.records)
            if due <= seen:
                break
            done = len(new & seen)
            if fractions and done >= fractions[0] * len(new):
                fractions.pop(0)
                await self.disrupt(phase, done, len(new), len(timeline.pending))
            if time.monotonic() - last_said > 2:
                self.log(f"  {phase.what}: {done}/{len(new)}")
                last_said = time.monotonic()
            if time.monotonic() > deadline:
                missing = sorted(due - seen)
                raise AssertionError(f"{phase.what}: {len(missing)} outputs never came, e.g. {missing[:3]}")
        self.log(f"  {phase.what}: all {len(new)} outputs seen")

    async def run(self) -> Report:
        plan = self.phases
        automation = await asyncio.to_thread(self.worker.save_and_activate, crash_flow(self.flow), T0)
        for other in self.workers[1:]:
            await asyncio.to_thread(other.wait_for_definitions, {automation.id: automation.version})
        events = [event for phase in plan for event in events_of(phase, self.learners)]
        until = plan[-1].at
        expected = simulated([automation], events, until)
        history = {
            run.run_id: [(h["status"], utc(h["at"])) for h in run.history if h["kind"] == "run_status"]
            for run in simulate([automation], events, until).runs
        }
        wanted = marks(expected, history)
        async with Timeline(self.worker.settings, self.pin) as timeline:
            for index, phase in enumerate(plan):
                due = set().union(*(items for at, items in wanted.items() if at <= utc(phase.at)))
                await self.run_phase(timeline, phase, index, due, wanted.get(utc(phase.at), set()))
            await timeline.settle(timeout=60)
            compare(self.report, timeline, expected)
        self.report.live_runs_expected = sum(run.status in ("pending", "executing") for run in expected.runs.values())
        self.report.live_runs_counted = await live_run_count(self.worker.settings, f"{SCHOOL}:{automation.id}")
        self.report.seconds = time.monotonic() - self.started
        return self.report


def run(learners: int, kills: int, wipes: int = 0, partitions: int = 8, flow: str = "full",
        say: Callable[[str], None] = print, folder: Path | None = None, keep_topics: bool = True) -> Report:
    folder = folder or Path(tempfile.mkdtemp(prefix="chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    worker = Worker(isolated_settings(partitions), data_dir=folder / "worker", log_path=folder / "worker.log",
                    extra_env=PACED)
    say(f"worker on topics {worker.settings.topics.prefix}.*, data and log in {folder}")
    worker.start()
    try:
        worker.clock(pin=T0)
        return asyncio.run(Chaos([worker], flow, learners, kills, wipes, say).run())
    finally:
        worker.stop()
        if not keep_topics:
            delete_topics(worker.settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--wipes", type=int, default=1, help="how many of the last kills also wipe the data folder")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--flow", choices=sorted(FLOWS), default="full")
    args = parser.parse_args()
    report = run(args.learners, args.kills, args.wipes, args.partitions, args.flow)
    print("\n".join(report.lines()))
    return 1 if report.lost_anything else 0


if __name__ == "__main__":
    sys.exit(main())
