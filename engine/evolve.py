"""Folding: the learner state after one engine event (the `evolve` of decide/evolve).

Owns the applier of every event type. Appliers never change meaning once
shipped: replaying an old log must give the same state. Status changes go
through `engine.runs.transition`, so a log with an illegal move fails loudly.
Events that only inform other audiences (actions, traces) leave state as is.
`Draft` folds the events of one decision (the interpreter's session is one),
`evolve` one event.
"""

from __future__ import annotations

from typing import Any, Callable

from engine import events as e
from engine.learner import LearnerState, school_event_changes
from engine.runs import (
    FINISHED,
    NEW,
    RECENT_FINISHED_KEPT,
    FinishedRun,
    Run,
    inactivity_timer_id,
    run_id_for,
    transition,
)
from engine.values import replace

_STATUS_INPUTS = {
    "pending": "wait",
    "executing": "resume",
    "fulfilled": "finish",
    "completed_via_exit": "exit",
    "failed": "fail",
    "failed_silently": "fail_silently",
    "cancelled": "cancel",
}


class Draft:
    """The state one decision's events fold into: `state` is the state so far.

    Every change makes a new state (a copy of the field references, ~0.1 us); the runs
    dict is copied on the first change to a run and then changed in place, so a decision
    that starts a run and waits copies the runs once, not once per event, and the state
    given to the decision stays as it was. Runs themselves are never changed in place
    (callers hold them). Nobody sees the runs dict before the decision returns it, after
    which nothing changes it.
    """

    __slots__ = ("state", "_runs")

    def __init__(self, state: LearnerState):
        self.state = state
        self._runs: dict | None = None  # its own runs dict, once copied

    def apply(self, event) -> LearnerState:
        """Folds `event` in; returns the state so far."""
        applier = APPLIERS[event.type]
        if applier is not None:
            applier(self, event)
        return self.state

    def update(self, changes: dict) -> None:
        self.state = replace(self.state, **changes)

    def put_run(self, run: Run) -> None:
        runs = self._runs if self._runs is not None else self._copy_runs()
        runs[run.id] = run

    def drop_run(self, run_id: str) -> None:
        runs = self._runs if self._runs is not None else self._copy_runs()
        del runs[run_id]

    def _copy_runs(self) -> dict:
        runs = dict(self.state.runs)
        self.update({"runs": runs})
        self._runs = runs
        return runs


def _learner_updated(draft: Draft, event: e.LearnerUpdated) -> None:
    changes = school_event_changes(draft.state, event.event)
    if changes:
        draft.update(changes)


def _run_started(draft: Draft, event: e.RunStarted) -> None:
    run = Run(
        id=event.run_id,
        automation_id=event.automation_id,
        automation_version=event.automation_version,
        status=transition(NEW, "start"),
        started_at=event.at,
        trigger_id=event.trigger_id,
        trigger_event_id=event.trigger_event_id,
        replay_of=event.replay_of,
    )
    draft.put_run(run)
    draft.update({"last_started": draft.state.with_started(event.automation_id, event.at)})


def _step_recorded(draft: Draft, event: e.StepRecorded) -> None:
    run = draft.state.runs.get(event.run_id)
    if run is None:
        return
    if event.outcome == "waiting":
        draft.put_run(replace(run, position=event.step_id, followers=event.followers))
    elif run.position is not None:
        draft.put_run(replace(run, position=None, followers=()))


def _timer_scheduled(draft: Draft, event: e.TimerScheduled) -> None:
    timer = event.timer
    state = draft.state
    if timer.kind == "inactivity":
        draft.update({"inactivity_timers": {**state.inactivity_timers, timer.days: timer.due_at}})
        return
    run = state.runs.get(timer.run_id or "")
    if run is not None:
        draft.put_run(replace(run, timer=timer))


def _forget_timer(draft: Draft, timer_id: str) -> None:
    state = draft.state
    for run in state.runs.values():
        if run.timer is not None and run.timer.id == timer_id:
            draft.put_run(replace(run, timer=None))
            return
    for days in state.inactivity_timers:
        if inactivity_timer_id(state.school, state.user, days) == timer_id:
            remaining = {d: t for d, t in state.inactivity_timers.items() if d != days}
            draft.update({"inactivity_timers": remaining})
            return


def _timer_cancelled(draft: Draft, event: e.TimerCancelled) -> None:
    _forget_timer(draft, event.timer_id)


def _timer_fired(draft: Draft, event: e.TimerFired) -> None:
    _forget_timer(draft, event.timer.id)


def _run_status_changed(draft: Draft, event: e.RunStatusChanged) -> None:
    run = draft.state.runs.get(event.run_id)
    if run is None:
        return
    status = transition(run.status, _STATUS_INPUTS[event.status])
    if status not in FINISHED:
        draft.put_run(replace(run, status=status))
        return
    summary = FinishedRun(
        id=run.id,
        automation_id=run.automation_id,
        status=status,
        started_at=run.started_at,
        ended_at=event.at,
        trigger_id=run.trigger_id,
        trigger_event_id=run.trigger_event_id,
        replay_of=run.replay_of,
        reason=event.reason,
        error=event.error,
        exit_id=event.exit_id,
    )
    draft.drop_run(run.id)
    draft.update({"finished": draft.state.with_finished(summary)})


def _run_skipped(draft: Draft, event: e.RunSkipped) -> None:
    state = draft.state
    skipped = run_id_for(event.automation_id, state.key, event.trigger_event_id)
    draft.update({"skipped_runs": (state.skipped_runs + (skipped,))[-RECENT_FINISHED_KEPT:]})


# None: the event informs other audiences only and leaves the state as it is.
# (The interpreter's Session, a Draft, folds through this table directly, as `Draft.apply` does.)
APPLIERS: dict[str, Callable[[Draft, Any], None] | None] = {
    "learner_updated": _learner_updated,
    "run_started": _run_started,
    "step_recorded": _step_recorded,
    "timer_scheduled": _timer_scheduled,
    "timer_cancelled": _timer_cancelled,
    "timer_fired": _timer_fired,
    "run_status_changed": _run_status_changed,
    "run_skipped": _run_skipped,
    "entry_declined": None,
    "exit_checked": None,
    "action_emitted": None,
    "derived_event_stopped": None,
}


def evolve(state: LearnerState, event) -> LearnerState:
    """The state after one event (`state` itself when the event changes nothing)."""
    return Draft(state).apply(event)
