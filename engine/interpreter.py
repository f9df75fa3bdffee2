"""The step interpreter: runs one learner's run from a step until it waits or ends.

Owns what each kind of step does when a run reaches it, reading the current
version of the step (ruling 11): an action is emitted with its idempotency
key, and one that changes the learner updates state at once and queues a
derived event (ruling 13); a wait asks `engine.waits.resolve_wait` and
either schedules a timer, continues, ends or fails the run (ruling 8); a
branch evaluates its conditions now and takes the yes or no list, after
which the flow continues after the branch (ruling 7). Every step leaves a
`StepRecorded` with what it saw. `Session` is the working state of one
`decide` call: it folds each event as it is emitted (it is the `Draft`), so
later steps see earlier ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine import definitions as d
from engine.catalog import Catalog, FlowIndex
from engine.commands import Timer
from engine.conditions import evaluate
from engine.events import (
    ActionCommand,
    ActionEmitted,
    LearnerUpdated,
    RunStatusChanged,
    StepRecorded,
    TimerScheduled,
)
from engine.evolve import APPLIERS, Draft
from engine.learner import PRODUCT_GRANTED, PRODUCT_REVOKED, PROGRAM_UNENROLLED, LearnerState, changes_state
from engine.runs import Run, idempotency_key, wait_timer_id
from engine.school_events import SchoolEvent
from engine.waits import resolve_wait


# action type -> (the parameter naming its target, the learner event it amounts to)
ACTION_TARGETS: dict[str, tuple[str, str | None]] = {
    "send_email": ("template", None),
    "add_tag": ("tag", "user.tag_added"),
    "remove_tag": ("tag", "user.tag_removed"),
    "enroll_in_course": ("course", "course.enrolled"),
    "unenroll_from_course": ("course", "course.unenrolled"),
    "enroll_in_program": ("program", "program.enrolled"),
    "unenroll_from_program": ("program", PROGRAM_UNENROLLED),
    "enroll_in_product": ("product", PRODUCT_GRANTED),
    "unenroll_from_product": ("product", PRODUCT_REVOKED),
    "set_field": ("field", "user.updated"),
}


class Session(Draft):
    """The state, catalog and clock of one decide call, and the events it has emitted.

    It is the `Draft` its events fold into (`state`: the learner with every event
    emitted so far applied): one object per input rather than two."""

    __slots__ = ("catalog", "now", "events", "derived")

    def __init__(self, state: LearnerState, catalog: Catalog, now: datetime):
        # Draft's two fields set here, not through its __init__: one call fewer per input.
        self.state = state
        self._runs = None
        self.catalog = catalog
        self.now = now
        self.events: list = []
        # Derived learner events waiting for exits and triggers, first in first out:
        # (event, changed). A list: they are few, and a deque allocates a block per input.
        self.derived: list[tuple[SchoolEvent, bool]] = []

    def emit(self, event) -> None:
        self.events.append(event)
        # `Draft.apply` in line: one call fewer for each of the ~3 events an input emits.
        applier = APPLIERS[event.type]
        if applier is not None:
            applier(self, event)

    def set_status(self, run: Run, status: str, **why: Any) -> None:
        current = self.state.runs.get(run.id, run)
        self.emit(
            RunStatusChanged(
                run_id=run.id,
                school=self.state.school,
                user=self.state.user,
                automation_id=run.automation_id,
                status=status,
                at=self.now,
                step_id=current.position,
                **why,
            )
        )

    def record(self, run: Run, step, outcome: str, **extra: Any) -> None:
        """`step` is the step model, or (id, type) for a step the current version lacks."""
        step_id, step_type = step if isinstance(step, tuple) else (step.id, step.type)
        self.emit(
            StepRecorded(
                run_id=run.id,
                automation_id=run.automation_id,
                step_id=step_id,
                step_type=step_type,
                outcome=outcome,
                at=self.now,
                **extra,
            )
        )


def next_after_wait(run: Run, flow: FlowIndex) -> str | None:
    """Where a waiting run goes on: after its step in the current version or, if an
    edit removed that step, at the first of its former followers still present."""
    if run.position in flow.steps:
        return flow.successor[run.position]
    for step_id in run.followers:
        if step_id in flow.steps:
            return step_id
    return None


def run_from(session: Session, run_id: str, automation: d.Automation, step_id: str | None, cause: tuple[str, ...]) -> None:
    """Execute steps from `step_id` until the run waits or ends.

    `cause` is the chain of ids that led here; actions' derived events extend it.
    """
    flow = session.catalog.flow(automation)
    while True:
        run = session.state.runs[run_id]
        step = flow.steps.get(step_id) if step_id is not None else None
        if step is None:
            session.set_status(run, "fulfilled", reason="all steps completed")
            return
        kind = flow.kinds[step_id]
        if kind == "branch":
            step_id = _branch(session, run, step, flow)
        elif kind == "wait":
            if not _wait(session, run, step, flow):
                return
            step_id = flow.successor[step.id]
        else:
            if not _action(session, run, step, cause):
                return
            step_id = flow.successor[step.id]


def _branch(session: Session, run: Run, step: d.Branch, flow: FlowIndex) -> str | None:
    holds, trace = evaluate(step.conditions, step.match, session.state)
    session.record(run, step, "yes" if holds else "no", detail=trace)
    chosen = step.yes if holds else step.no
    return chosen[0].id if chosen else flow.successor[step.id]


def _wait(session: Session, run: Run, step, flow: FlowIndex) -> bool:
    """True when the run goes straight on to the next step."""
    result = resolve_wait(step, session.state.fields, session.now)
    if result.kind == "continue":
        session.record(run, step, "continued", detail={"reason": result.reason})
        return True
    if result.kind == "end":
        session.record(run, step, "ended", detail={"reason": result.reason})
        session.set_status(run, "fulfilled", reason=result.reason)
        return False
    if result.kind == "fail":
        error = result.error  # names the step, the field and the value seen already
        session.record(run, step, "failed", detail={"error": error})
        session.set_status(run, "failed", error=error)
        return False
    detail = {"until": result.due_at.isoformat(), "detail": result.detail}  # a WaitUntil's detail is text
    session.record(run, step, "waiting", detail=detail, followers=flow.followers(step.id))
    timer = Timer(
        id=wait_timer_id(run.id, step.id),
        school=session.state.school,
        user=session.state.user,
        kind="wait",
        due_at=result.due_at,
        automation_id=run.automation_id,
        run_id=run.id,
        step_id=step.id,
    )
    session.emit(TimerScheduled(timer=timer))
    session.set_status(run, "pending")
    return False


def derived_event_data(step, parameter: str, target: str) -> dict:
    """The data of the learner event an action with a learner event derives (ruling 13)."""
    return {"fields": {target: step.value}} if step.type == "set_field" else {parameter: target}


def _action(session: Session, run: Run, step, cause: tuple[str, ...]) -> bool:
    """True when the action was emitted; a missing target fails the run silently."""
    parameter, learner_event_type = ACTION_TARGETS[step.type]
    target = getattr(step, parameter)
    if target is None or target == "":
        reason = f"step {step.id} ({step.type}): {parameter} is missing (value seen: {target!r})"
        session.record(run, step, "failed_silently", detail={"reason": reason})
        session.set_status(run, "failed_silently", reason=reason)
        return False
    key = idempotency_key(run.id, step.id)
    values = {parameter: target}
    if step.type == "set_field":
        values["value"] = step.value
    command = ActionCommand(
        type=step.type,
        school=session.state.school,
        user=session.state.user,
        idempotency_key=key,
        run_id=run.id,
        automation_id=run.automation_id,
        step_id=step.id,
        at=session.now,
        **values,
    )
    session.record(run, step, "done", detail={"idempotency_key": key, **values})
    session.emit(ActionEmitted(run_id=run.id, step_id=step.id, idempotency_key=key, action=command))
    if learner_event_type is not None:
        data = derived_event_data(step, parameter, target)
        # Built unvalidated: the engine's own event, whose id (run id and step id)
        # may pass the length limit the edge puts on platform events.
        derived = SchoolEvent(
            id=key,
            type=learner_event_type,
            school=session.state.school,
            user=session.state.user,
            occurred_at=session.now,
            data=data,
            cause=cause,
        )
        changed = changes_state(session.state, derived)
        session.emit(LearnerUpdated(event=derived))
        session.derived.append((derived, changed))
    return True
