"""What the engine decided, as past-tense events, and where each one goes.

Owns every event `decide` returns and `evolve` folds, the `ActionCommand`
sent to the platform, and `route`, which names each event's audience: the
learner-state changelog ("state"), the actions topic, the delays topic, or
the run-status topic. Events are frozen, discriminated by `type`, and never
subclass each other. Their meaning never changes once shipped: a change in
meaning is a new event type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from engine.commands import Timer
from engine.runs import RunStatus
from engine.school_events import SchoolEvent


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActionCommand(_Event):
    """A command for the platform. `idempotency_key` lets it recognise a retry."""

    type: str
    school: str
    user: str
    idempotency_key: str
    run_id: str
    automation_id: str
    step_id: str
    at: datetime
    template: str | None = None
    tag: str | None = None
    course: str | None = None
    program: str | None = None
    product: str | None = None
    field: str | None = None
    value: str | int | float | bool | None = None


class LearnerUpdated(_Event):
    """A school event (or an event derived from an action) applied to the learner."""

    type: Literal["learner_updated"] = "learner_updated"
    event: SchoolEvent


class RunStarted(_Event):
    """A run began (status executing). `trace`: each trigger tried, in order, with
    the condition values it saw; the last one is the firing trigger."""

    type: Literal["run_started"] = "run_started"
    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int
    mode: Literal["synchronous", "asynchronous"]
    trigger_id: str | None
    trigger_event_id: str | None
    replay_of: str | None = None
    cause: tuple[str, ...] = ()
    at: datetime
    trace: list[dict[str, Any]] = []


class RunSkipped(_Event):
    """Ruling 5: a trigger fired within 60 s of the last start; no run record."""

    type: Literal["run_skipped"] = "run_skipped"
    school: str
    user: str
    automation_id: str
    trigger_id: str | None
    trigger_event_id: str
    reason: str
    at: datetime


class EntryDeclined(_Event):
    """An event matched a trigger's event but started no run, and why (the trace)."""

    type: Literal["entry_declined"] = "entry_declined"
    school: str
    user: str
    automation_id: str
    trigger_event_id: str
    reason: str
    at: datetime
    trace: list[dict[str, Any]] = []


class StepRecorded(_Event):
    """One step of a run's history: what it did, when, and what it saw.

    `followers` is set when a run starts waiting in a step (see `Run.followers`).
    """

    type: Literal["step_recorded"] = "step_recorded"
    run_id: str
    automation_id: str
    step_id: str
    step_type: str
    outcome: str
    at: datetime
    detail: dict[str, Any] = {}
    followers: tuple[str, ...] = ()


class ExitChecked(_Event):
    """An event matched an exit condition's event; its filters were evaluated (the trace)."""

    type: Literal["exit_checked"] = "exit_checked"
    run_id: str
    automation_id: str
    exit_id: str | None
    event_id: str
    matched: bool
    at: datetime
    trace: dict[str, Any] = {}


class ActionEmitted(_Event):
    type: Literal["action_emitted"] = "action_emitted"
    run_id: str
    step_id: str
    idempotency_key: str
    action: ActionCommand


class TimerScheduled(_Event):
    type: Literal["timer_scheduled"] = "timer_scheduled"
    timer: Timer


class TimerCancelled(_Event):
    type: Literal["timer_cancelled"] = "timer_cancelled"
    timer_id: str
    due_at: datetime
    school: str
    user: str


class TimerFired(_Event):
    """A timer the learner was waiting for came due; `lateness_seconds` measures the delay."""

    type: Literal["timer_fired"] = "timer_fired"
    timer: Timer
    at: datetime
    lateness_seconds: float


class RunStatusChanged(_Event):
    type: Literal["run_status_changed"] = "run_status_changed"
    run_id: str
    school: str
    user: str
    automation_id: str
    status: RunStatus
    at: datetime
    reason: str | None = None
    error: str | None = None
    exit_id: str | None = None
    # The wait the run enters or leaves (or waits in, when it ends there); none between
    # steps. With the status it names the change once, also when an input lost to a
    # crash is decided again later (the projections count it once).
    step_id: str | None = None


class DerivedEventStopped(_Event):
    """Ruling 13: a derived event past the cause-depth limit matched nothing (a loop guard)."""

    type: Literal["derived_event_stopped"] = "derived_event_stopped"
    school: str
    user: str
    event_id: str
    event_type: str
    cause: tuple[str, ...]
    at: datetime


Event = Annotated[
    Union[
        LearnerUpdated,
        RunStarted,
        RunSkipped,
        EntryDeclined,
        StepRecorded,
        ExitChecked,
        ActionEmitted,
        TimerScheduled,
        TimerCancelled,
        TimerFired,
        RunStatusChanged,
        DerivedEventStopped,
    ],
    Field(discriminator="type"),
]

Audience = Literal["state", "actions", "delays", "run_status"]
_ROUTES: dict[str, Audience] = {
    "learner_updated": "state",
    "timer_fired": "state",
    "action_emitted": "actions",
    "timer_scheduled": "delays",
    "timer_cancelled": "delays",
    "run_started": "run_status",
    "run_skipped": "run_status",
    "entry_declined": "run_status",
    "step_recorded": "run_status",
    "exit_checked": "run_status",
    "run_status_changed": "run_status",
    "derived_event_stopped": "run_status",
}


def route(event: BaseModel) -> Audience:
    """The topic audience of an event; "state" ones only fold into learner state."""
    return _ROUTES[event.type]  # type: ignore[attr-defined]
