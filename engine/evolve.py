"""Folding: the learner state after one engine event (the `evolve` of decide/evolve).

Owns the applier of every event type. Appliers never change meaning once
shipped: replaying an old log must give the same state. Status changes go
through `engine.runs.transition`, so a log with an illegal move fails loudly.
Events that only inform other audiences (actions, traces) leave state as is.
"""

from __future__ import annotations

from typing import Callable

from engine import events as e
from engine.learner import LearnerState, apply_school_event
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
from engine.trusted import copy_with, trusted

_STATUS_INPUTS = {
    "pending": "wait",
    "executing": "resume",
    "fulfilled": "finish",
    "completed_via_exit": "exit",
    "failed": "fail",
    "failed_silently": "fail_silently",
    "cancelled": "cancel",
}


def _learner_updated(state: LearnerState, event: e.LearnerUpdated) -> LearnerState:
    return apply_school_event(state, event.event)


def _run_started(state: LearnerState, event: e.RunStarted) -> LearnerState:
    run = trusted(
        Run,
        id=event.run_id,
        automation_id=event.automation_id,
        automation_version=event.automation_version,
        status=transition(NEW, "start"),
        started_at=event.at,
        trigger_id=event.trigger_id,
        trigger_event_id=event.trigger_event_id,
        replay_of=event.replay_of,
    )
    update = {"runs": {**state.runs, run.id: run}, "last_started": state.with_started(event.automation_id, event.at)}
    return copy_with(state, update)


def _with_run(state: LearnerState, run: Run) -> LearnerState:
    return copy_with(state, {"runs": {**state.runs, run.id: run}})


def _step_recorded(state: LearnerState, event: e.StepRecorded) -> LearnerState:
    run = state.runs.get(event.run_id)
    if run is None:
        return state
    if event.outcome == "waiting":
        return _with_run(state, copy_with(run, {"position": event.step_id, "followers": event.followers}))
    if run.position is not None:
        return _with_run(state, copy_with(run, {"position": None, "followers": ()}))
    return state


def _timer_scheduled(state: LearnerState, event: e.TimerScheduled) -> LearnerState:
    timer = event.timer
    if timer.kind == "inactivity":
        return copy_with(state, {"inactivity_timers": {**state.inactivity_timers, timer.days: timer.due_at}})
    run = state.runs.get(timer.run_id or "")
    return _with_run(state, copy_with(run, {"timer": timer})) if run else state


def _forget_timer(state: LearnerState, timer_id: str) -> LearnerState:
    for run in state.runs.values():
        if run.timer is not None and run.timer.id == timer_id:
            return _with_run(state, copy_with(run, {"timer": None}))
    for days in state.inactivity_timers:
        if inactivity_timer_id(state.school, state.user, days) == timer_id:
            remaining = {d: t for d, t in state.inactivity_timers.items() if d != days}
            return copy_with(state, {"inactivity_timers": remaining})
    return state


def _timer_cancelled(state: LearnerState, event: e.TimerCancelled) -> LearnerState:
    return _forget_timer(state, event.timer_id)


def _timer_fired(state: LearnerState, event: e.TimerFired) -> LearnerState:
    return _forget_timer(state, event.timer.id)


def _run_status_changed(state: LearnerState, event: e.RunStatusChanged) -> LearnerState:
    run = state.runs.get(event.run_id)
    if run is None:
        return state
    status = transition(run.status, _STATUS_INPUTS[event.status])
    if status not in FINISHED:
        return _with_run(state, copy_with(run, {"status": status}))
    summary = trusted(
        FinishedRun,
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
    runs = {run_id: r for run_id, r in state.runs.items() if run_id != run.id}
    return copy_with(state, {"runs": runs, "finished": state.with_finished(summary)})


def _unchanged(state: LearnerState, event) -> LearnerState:
    return state


def _run_skipped(state: LearnerState, event: e.RunSkipped) -> LearnerState:
    skipped = run_id_for(event.automation_id, state.key, event.trigger_event_id)
    kept = (state.skipped_runs + (skipped,))[-RECENT_FINISHED_KEPT:]
    return state.model_copy(update={"skipped_runs": kept})


_APPLIERS: dict[str, Callable] = {
    "learner_updated": _learner_updated,
    "run_started": _run_started,
    "step_recorded": _step_recorded,
    "timer_scheduled": _timer_scheduled,
    "timer_cancelled": _timer_cancelled,
    "timer_fired": _timer_fired,
    "run_status_changed": _run_status_changed,
    "run_skipped": _run_skipped,
    "entry_declined": _unchanged,
    "exit_checked": _unchanged,
    "action_emitted": _unchanged,
    "derived_event_stopped": _unchanged,
}


def evolve(state: LearnerState, event) -> LearnerState:
    return _APPLIERS[event.type](state, event)
