"""What can be asked of one learner's state: the engine's input commands.

Owns `Timer` (a scheduled wake-up the delay topic carries and the timer agent
fires back) and the commands `decide` accepts, one per source: a school event
from the stream, a fired timer, an operator command, a definition change that
travels with the definitions to every learner of the automation's school.
Commands are imperative and immutable values (`engine.values`); deciding what
they mean is `engine.decider`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Union

from engine.school_events import SchoolEvent
from engine.values import Value


class Timer(Value, kw_only=True):
    """A wake-up for one learner.

    `wait` timers belong to one run's wait step. `inactivity` timers belong to
    the learner and one `days` value: one timer serves every automation with a
    `user.inactive {days}` trigger, so `automation_id` is empty for them (the
    engine decides at fire time which automations the inactivity concerns).
    Scheduling a timer with an id already pending replaces it. `due_at` may
    come back truncated to milliseconds (Avro timestamp-millis); the engine
    compares timers to the millisecond.
    """

    id: str
    school: str
    user: str
    kind: Literal["wait", "inactivity"]
    due_at: datetime
    automation_id: str = ""
    run_id: str | None = None
    step_id: str | None = None
    days: int | None = None

    @property
    def key(self) -> str:
        return f"{self.school}:{self.user}"

    def due_same_as(self, other: datetime) -> bool:
        return abs((self.due_at - other).total_seconds()) < 0.001


class HandleSchoolEvent(Value, kw_only=True, tag="handle_school_event", tag_field="type"):
    type: ClassVar[str] = "handle_school_event"
    event: SchoolEvent


class FireTimer(Value, kw_only=True, tag="fire_timer", tag_field="type"):
    type: ClassVar[str] = "fire_timer"
    timer: Timer


class ReplayRun(Value, kw_only=True, tag="replay_run", tag_field="type"):
    """Operator: start the run again from the first step, linked to the old one."""

    type: ClassVar[str] = "replay_run"
    run_id: str
    command_id: str


class CancelRun(Value, kw_only=True, tag="cancel_run", tag_field="type"):
    type: ClassVar[str] = "cancel_run"
    run_id: str
    command_id: str


class AdvanceWaiting(Value, kw_only=True, tag="advance_waiting", tag_field="type"):
    """Operator: move every learner waiting in `step_id` on to the next step now."""

    type: ClassVar[str] = "advance_waiting"
    automation_id: str
    step_id: str
    command_id: str


DefinitionChange = Literal[
    "saved", "activated", "deactivated", "deleted_finishing", "deleted_immediate"
]


class ApplyDefinitionChange(Value, kw_only=True, tag="apply_definition_change", tag_field="type"):
    """A definition change, applied to one learner after the catalog holds the new version.

    `removed_step_ids`: steps the saved edit removed; learners waiting in them
    move on at once (ruling 11). The engine also moves on learners waiting in
    a step that is absent from the current version, so an empty tuple is safe.
    """

    type: ClassVar[str] = "apply_definition_change"
    automation_id: str
    change: DefinitionChange
    removed_step_ids: tuple[str, ...] = ()


# Told apart by `type`, the first key of an encoded command.
Command = Union[HandleSchoolEvent, FireTimer, ReplayRun, CancelRun, AdvanceWaiting, ApplyDefinitionChange]
