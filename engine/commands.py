"""What can be asked of one learner's state: the engine's input commands.

Owns `Timer` (a scheduled wake-up the delay topic carries and the timer agent
fires back) and the commands `decide` accepts, one per source: a school event
from the stream, a fired timer, an operator command, a definition change that
travels with the definitions to every learner of the automation's school.
Commands are imperative and frozen; deciding what they mean is `engine.decider`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from engine.school_events import SchoolEvent


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timer(BaseModel):
    """A wake-up for one learner.

    `wait` timers belong to one run's wait step. `inactivity` timers belong to
    the learner and one `days` value: one timer serves every automation with a
    `user.inactive {days}` trigger, so `automation_id` is empty for them (the
    engine decides at fire time which automations the inactivity concerns).
    Scheduling a timer with an id already pending replaces it. `due_at` may
    come back truncated to milliseconds (Avro timestamp-millis); the engine
    compares timers to the millisecond.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

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


class HandleSchoolEvent(_Command):
    type: Literal["handle_school_event"] = "handle_school_event"
    event: SchoolEvent


class FireTimer(_Command):
    type: Literal["fire_timer"] = "fire_timer"
    timer: Timer


class ReplayRun(_Command):
    """Operator: start the run again from the first step, linked to the old one."""

    type: Literal["replay_run"] = "replay_run"
    run_id: str
    command_id: str


class CancelRun(_Command):
    type: Literal["cancel_run"] = "cancel_run"
    run_id: str
    command_id: str


class AdvanceWaiting(_Command):
    """Operator: move every learner waiting in `step_id` on to the next step now."""

    type: Literal["advance_waiting"] = "advance_waiting"
    automation_id: str
    step_id: str
    command_id: str


DefinitionChange = Literal[
    "saved", "activated", "deactivated", "deleted_finishing", "deleted_immediate"
]


class ApplyDefinitionChange(_Command):
    """A definition change, applied to one learner after the catalog holds the new version.

    `removed_step_ids`: steps the saved edit removed; learners waiting in them
    move on at once (ruling 11). The engine also moves on learners waiting in
    a step that is absent from the current version, so an empty tuple is safe.
    """

    type: Literal["apply_definition_change"] = "apply_definition_change"
    automation_id: str
    change: DefinitionChange
    removed_step_ids: tuple[str, ...] = ()


Command = Annotated[
    Union[HandleSchoolEvent, FireTimer, ReplayRun, CancelRun, AdvanceWaiting, ApplyDefinitionChange],
    Field(discriminator="type"),
]
