"""Simulation: automations run over recorded school events with a virtual clock.

Owns `simulate`, the same code path as the live worker minus Kafka: one
`LearnerState` per `school:user`, every input through `engine.decider.handle`,
timers in a `TimerQueue` instead of the delay topic. The clock (DESIGN.md, Time):
events in `occurred_at` order (ties in input order) with `now = occurred_at`
in UTC, as a worker's clock reads (an event's own offset would put its run's
records in its zone and the timers' in UTC);
timers due before the next event fire first, in due order, each at its due
time, and timers due at the same instant in the order they were scheduled
(`engine.timer_queue`); after the last event the clock runs to `until` (or until no timer is
left). Definitions are simulated as active; one without `activated_at`
counts as activated before every event.

The result lists every run with its status, decision trace and actions, plus
the skipped and declined entries; equal inputs give equal results. A long
simulation need not hold them all: given a `Sink`, the world hands over each
run once it has ended (with its place in start order) and each skipped or
declined entry as it happens, and keeps only the runs still going, each
history entry pickled meanwhile (a quarter of its size as dicts: a run waiting
in a long wait holds its history until it ends).
"""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from typing import Annotated, Any, Iterable, Protocol

from pydantic import BaseModel, ConfigDict, PlainSerializer

from engine.catalog import Catalog
from engine.commands import FireTimer, HandleSchoolEvent
from engine.decider import handle
from engine.definitions import Automation
from engine.events import ActionCommand, EntryDeclined, RunSkipped
from engine.learner import LearnerState
from engine.school_events import SchoolEvent
from engine.timer_queue import TimerQueue
from engine.values import as_dict

BEFORE_EVERYTHING = datetime(1970, 1, 1, tzinfo=timezone.utc)


# The report is a document people read; the actions in it are the engine's values, shown by field.
ReportedAction = Annotated[ActionCommand, PlainSerializer(as_dict)]


class RunReport(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int
    mode: str
    trigger_id: str | None
    trigger_event_id: str | None
    replay_of: str | None
    started_at: datetime
    status: str
    ended_at: datetime | None = None
    reason: str | None = None
    error: str | None = None
    exit_id: str | None = None
    history: list[dict[str, Any]] = []
    actions: list[ReportedAction] = []


class SimulationResult(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    runs: list[RunReport]
    skipped: list[RunSkipped]
    declined: list[EntryDeclined]
    states: dict[str, LearnerState]
    clock: datetime | None
    log: list[tuple[str, Any]] = []


class Sink(Protocol):
    """Where a world that keeps no history hands over what it would have kept."""

    def run_ended(self, sequence: int, run: RunReport) -> None:
        """A run that will change no more; `sequence` is its place in start order (0, 1, ...)."""

    def run_skipped(self, skipped: RunSkipped) -> None: ...

    def entry_declined(self, declined: EntryDeclined) -> None: ...


_LIVE_STATUSES = ("pending", "executing")
_STARTED_FIELDS = set(RunReport.model_fields) - {"status"}  # what a report takes from RunStarted
_NOT_IN_HISTORY = {"type", "run_id", "automation_id", "school", "user"}


def as_simulated(automation: Automation) -> Automation:
    return automation.model_copy(
        update={"status": "active", "activated_at": automation.activated_at or BEFORE_EVERYTHING}
    )


class VirtualWorld:
    """The mutable bookkeeping of one simulation: learners, pending timers, reports.

    Also the harness of the engine's scenario tests: `send` any command to a
    learner, `broadcast` a definition change to a school's learners, advance
    the clock with `fire_due`.
    """

    def __init__(self, catalog: Catalog, sink: Sink | None = None):
        self.catalog = catalog
        # With a sink, ended runs, skips, declines and the log go there instead of staying here.
        self.sink = sink
        self.states: dict[str, LearnerState] = {}
        self.timers = TimerQueue()
        self.reports: dict[str, dict[str, Any]] = {}
        self.runs_started = 0
        self.skipped: list[RunSkipped] = []
        self.declined: list[EntryDeclined] = []
        self.clock: datetime | None = None
        self.log: list[tuple[str, Any]] = []  # (learner key, event), everything decided, in order

    def send(self, command, school: str, user: str, now: datetime):
        """Handle one command for one learner at `now`; returns the Outcome."""
        key = f"{school}:{user}"
        state = self.states.get(key) or LearnerState.new(school, user)
        outcome = handle(command, state, self.catalog, now)
        self.states[key] = outcome.state
        self.clock = now
        ended: list[str] = []
        for event in outcome.events:
            if self.sink is None:
                self.log.append((key, event))
            elif event.type == "run_status_changed" and event.status not in _LIVE_STATUSES:
                ended.append(event.run_id)
            self._record(event)
        for run_id in ended:  # handed over once the whole outcome is in its report
            report = self.reports.pop(run_id)
            self.sink.run_ended(report["sequence"], _run_report(report))
        return outcome

    def broadcast(self, command, school: str, now: datetime) -> None:
        """A command that travels with the definitions: every known learner of the school."""
        for key in sorted(self.states):
            state = self.states[key]
            if state.school == school:
                self.send(command, school, state.user, now)

    def report(self) -> list[RunReport]:
        """Every run, in the order the runs started (with a sink: those not ended)."""
        return [run for _, run in self.numbered_report()]

    def numbered_report(self) -> list[tuple[int, RunReport]]:
        """`report`, each run with its place in start order."""
        ordered = sorted(self.reports.values(), key=lambda report: report["sequence"])
        return [(report["sequence"], _run_report(report)) for report in ordered]

    def fire_due(self, limit: datetime | None, inclusive: bool) -> None:
        while (timer := self.timers.pop_due(limit, inclusive)) is not None:
            now = max(timer.due_at, self.clock) if self.clock else timer.due_at
            self.send(FireTimer(timer=timer), timer.school, timer.user, now)

    def _record(self, event) -> None:
        kind = event.type
        if kind == "timer_scheduled":
            self.timers.schedule(event.timer)
        elif kind == "timer_cancelled":
            self.timers.cancel(event.timer_id, event.due_at)
        elif kind == "run_skipped":
            if self.sink is not None:
                self.sink.run_skipped(event)
            else:
                self.skipped.append(event)
        elif kind == "entry_declined":
            if self.sink is not None:
                self.sink.entry_declined(event)
            else:
                self.declined.append(event)
        elif kind == "run_started":
            self.reports[event.run_id] = {
                **{name: value for name, value in as_dict(event).items() if name in _STARTED_FIELDS},
                "started_at": event.at,
                "status": "executing",
                "history": [_kept({"at": event.at, "kind": "started", "trace": event.trace})],
                "actions": [],
                "sequence": self.runs_started,
            }
            self.runs_started += 1
        elif kind in ("step_recorded", "exit_checked", "run_status_changed", "action_emitted"):
            self._add_to_run(event)

    def _add_to_run(self, event) -> None:
        report = self.reports[event.run_id]
        if event.type == "action_emitted":
            report["actions"].append(event.action)
            return
        entry = {name: value for name, value in as_dict(event).items() if name not in _NOT_IN_HISTORY}
        report["history"].append(_kept({"kind": event.type.removesuffix("_recorded").removesuffix("_changed"), **entry}))
        if event.type == "run_status_changed":
            report["status"] = event.status
            if event.status not in ("pending", "executing"):
                report.update(ended_at=event.at, reason=event.reason, error=event.error, exit_id=event.exit_id)


def _kept(entry: dict[str, Any]) -> bytes:
    return pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)


def _run_report(report: dict[str, Any]) -> RunReport:
    return RunReport.model_validate({**report, "history": [pickle.loads(entry) for entry in report["history"]]})


def simulate(
    automations: list[Automation], events: list[SchoolEvent], until: datetime | None = None
) -> SimulationResult:
    world = VirtualWorld(catalog_of(automations))
    play(world, in_clock_order(events), until)
    return SimulationResult(
        runs=world.report(),
        skipped=world.skipped,
        declined=world.declined,
        states=dict(sorted(world.states.items())),
        clock=world.clock,
        log=world.log,
    )


def catalog_of(automations: Iterable[Automation]) -> Catalog:
    """The definitions as a simulation runs them: active, whatever they say."""
    return Catalog.of(as_simulated(a) for a in automations)


def clock_order(event: SchoolEvent, position: int) -> tuple[datetime, int]:
    """The order a simulation takes events in: `occurred_at`, ties in input order."""
    return event.occurred_at, position


def in_clock_order(events: list[SchoolEvent]) -> Iterable[SchoolEvent]:
    return (event for _, event in sorted(enumerate(events), key=lambda pair: clock_order(pair[1], pair[0])))


def play(world: VirtualWorld, ordered: Iterable[SchoolEvent], until: datetime | None = None) -> None:
    """Events already in clock order through `world`, then the clock to `until`."""
    for event in ordered:
        if until is not None and event.occurred_at > until:
            break
        now = event.occurred_at.astimezone(timezone.utc)
        world.fire_due(now, inclusive=False)
        world.send(HandleSchoolEvent(event=event), event.school, event.user, now)
    world.fire_due(until, inclusive=True)
