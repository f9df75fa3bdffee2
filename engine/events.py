"""What the engine decided, as past-tense events, and where each one goes.

Owns every event `decide` returns and `evolve` folds, the `ActionCommand`
sent to the platform, and `route`, which names each event's audience: the
learner-state changelog ("state"), the actions topic, the delays topic, or
the run-status topic. Events are immutable values (`engine.values`),
discriminated by `type`, and never subclass each other. Their meaning never
changes once shipped: a change in meaning is a new event type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal, Union

from engine.commands import Timer
from engine.runs import RunStatus
from engine.school_events import SchoolEvent
from engine.values import Value, json_codec


class ActionCommand(Value, kw_only=True):
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


class LearnerUpdated(Value, kw_only=True, tag="learner_updated", tag_field="type"):
    """A school event (or an event derived from an action) applied to the learner."""

    type: ClassVar[str] = "learner_updated"
    event: SchoolEvent


class RunStarted(Value, kw_only=True, tag="run_started", tag_field="type"):
    """A run began (status executing). `trace`: each trigger tried, in order, with
    the condition values it saw; the last one is the firing trigger."""

    type: ClassVar[str] = "run_started"
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


class RunSkipped(Value, kw_only=True, tag="run_skipped", tag_field="type"):
    """Ruling 5: a trigger fired within 60 s of the last start; no run record."""

    type: ClassVar[str] = "run_skipped"
    school: str
    user: str
    automation_id: str
    trigger_id: str | None
    trigger_event_id: str
    reason: str
    at: datetime


class EntryDeclined(Value, kw_only=True, tag="entry_declined", tag_field="type"):
    """An event matched a trigger's event but started no run, and why (the trace)."""

    type: ClassVar[str] = "entry_declined"
    school: str
    user: str
    automation_id: str
    trigger_event_id: str
    reason: str
    at: datetime
    trace: list[dict[str, Any]] = []


class StepRecorded(Value, kw_only=True, tag="step_recorded", tag_field="type"):
    """One step of a run's history: what it did, when, and what it saw.

    `followers` is set when a run starts waiting in a step (see `Run.followers`).
    """

    type: ClassVar[str] = "step_recorded"
    run_id: str
    automation_id: str
    step_id: str
    step_type: str
    outcome: str
    at: datetime
    detail: dict[str, Any] = {}
    followers: tuple[str, ...] = ()


class ExitChecked(Value, kw_only=True, tag="exit_checked", tag_field="type"):
    """An event matched an exit condition's event; its filters were evaluated (the trace)."""

    type: ClassVar[str] = "exit_checked"
    run_id: str
    automation_id: str
    exit_id: str | None
    event_id: str
    matched: bool
    at: datetime
    trace: dict[str, Any] = {}


class ActionEmitted(Value, kw_only=True, tag="action_emitted", tag_field="type"):
    type: ClassVar[str] = "action_emitted"
    run_id: str
    step_id: str
    idempotency_key: str
    action: ActionCommand


class TimerScheduled(Value, kw_only=True, tag="timer_scheduled", tag_field="type"):
    type: ClassVar[str] = "timer_scheduled"
    timer: Timer


class TimerCancelled(Value, kw_only=True, tag="timer_cancelled", tag_field="type"):
    type: ClassVar[str] = "timer_cancelled"
    timer_id: str
    due_at: datetime
    school: str
    user: str


class TimerFired(Value, kw_only=True, tag="timer_fired", tag_field="type"):
    """A timer the learner was waiting for came due; `lateness_seconds` measures the delay."""

    type: ClassVar[str] = "timer_fired"
    timer: Timer
    at: datetime
    lateness_seconds: float


class RunStatusChanged(Value, kw_only=True, tag="run_status_changed", tag_field="type"):
    type: ClassVar[str] = "run_status_changed"
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


class DerivedEventStopped(Value, kw_only=True, tag="derived_event_stopped", tag_field="type"):
    """Ruling 13: a derived event past the cause-depth limit matched nothing (a loop guard)."""

    type: ClassVar[str] = "derived_event_stopped"
    school: str
    user: str
    event_id: str
    event_type: str
    cause: tuple[str, ...]
    at: datetime


# Told apart by `type`, the first key of an encoded event.
Event = Union[
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


def route(event: Value) -> Audience:
    """The topic audience of an event; "state" ones only fold into learner state."""
    return _ROUTES[event.type]  # type: ignore[attr-defined]


# Event logs as JSON lines (the golden logs): one line per event, `type` first.
event_to_json, event_from_json = json_codec(Event)
