"""One learner's state, as the engine folds it from that learner's events.

Owns `LearnerState` (the facts conditions and waits read, plus the run
bookkeeping: live runs, a bounded list of recently finished ones, the last
start per automation for the 60-second rule, pending inactivity timers) and
the two questions asked of a school event: what it changes
(`school_event_changes`) and whether it changes anything a state trigger
watches (`changes_state`). One state per `school:user` Kafka key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from engine.runs import RECENT_FINISHED_KEPT, FinishedRun, Run
from engine.school_events import FieldValue, SchoolEvent
from engine.values import Value

DUPLICATE_RUN_WINDOW = timedelta(seconds=60)
_RUN_ID = attrgetter("id")

# Engine-internal event types: learner changes made by actions for which the
# school-event catalogue has no event. They update state and match nothing.
PROGRAM_UNENROLLED = "program.unenrolled"
PRODUCT_GRANTED = "product.granted"
PRODUCT_REVOKED = "product.revoked"

_SET_ADDS = {
    "user.tag_added": ("tags", "tag"),
    "course.enrolled": ("courses", "course"),
    "course.completed": ("completed_courses", "course"),
    "program.enrolled": ("programs", "program"),
    "program.completed": ("completed_programs", "program"),
    "product.purchased": ("products", "product"),
    PRODUCT_GRANTED: ("products", "product"),
}
_SET_REMOVES = {
    "user.tag_removed": ("tags", "tag"),
    "course.unenrolled": ("courses", "course"),
    PROGRAM_UNENROLLED: ("programs", "program"),
    PRODUCT_REVOKED: ("products", "product"),
}
# Ruling 2: events that describe a state fire triggers (and exits) only when they change it.
STATE_EVENT_TYPES = frozenset(_SET_ADDS) | frozenset(_SET_REMOVES) | {"user.registered", "user.updated"}


class LearnerState(Value, kw_only=True):
    """What the engine knows of one learner; stored per `school:user` (processors.learner_entries)."""

    school: str
    user: str
    registered: bool = False
    email: str | None = None
    registered_at: datetime | None = None
    tags: frozenset[str] = frozenset()
    courses: frozenset[str] = frozenset()
    completed_courses: frozenset[str] = frozenset()
    programs: frozenset[str] = frozenset()
    completed_programs: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    fields: dict[str, FieldValue] = {}
    last_activity_at: datetime | None = None
    runs: dict[str, Run] = {}
    finished: tuple[FinishedRun, ...] = ()
    last_started: dict[str, datetime] = {}
    inactivity_timers: dict[int, datetime] = {}
    # Run ids the 60-second rule did not start: a re-delivered or reprocessed
    # event must not start them later, when the rule no longer applies.
    skipped_runs: tuple[str, ...] = ()

    @classmethod
    def new(cls, school: str, user: str) -> "LearnerState":
        return cls(school=school, user=user)

    @property
    def key(self) -> str:
        return f"{self.school}:{self.user}"

    def finished_run(self, run_id: str) -> FinishedRun | None:
        for run in self.finished:
            if run.id == run_id:
                return run
        return None

    def knows_run(self, run_id: str) -> bool:
        """The run exists, ended recently, or its triggering event was skipped (ruling 5)."""
        # Every start asks, and a busy learner has 50 finished runs: their ids read in C.
        return run_id in self.runs or run_id in self.skipped_runs or run_id in map(_RUN_ID, self.finished)

    def started_recently(self, automation_id: str, now: datetime) -> bool:
        """Ruling 5: a run of this automation started less than 60 s before `now`."""
        last = self.last_started.get(automation_id)
        return last is not None and now - last < DUPLICATE_RUN_WINDOW

    def with_started(self, automation_id: str, at: datetime) -> dict[str, datetime]:
        """`last_started` after a start at `at`, pruned of starts that no longer matter."""
        kept = {a: t for a, t in self.last_started.items() if at - t < DUPLICATE_RUN_WINDOW}
        kept[automation_id] = at
        return kept

    def with_finished(self, summary: FinishedRun) -> tuple[FinishedRun, ...]:
        return (self.finished + (summary,))[-RECENT_FINISHED_KEPT:]


def changes_state(state: LearnerState, event: SchoolEvent) -> bool:
    """False for a state event that changes nothing: a held tag, an existing enrollment..."""
    kind = event.type
    if kind in _SET_ADDS:
        attribute, key = _SET_ADDS[kind]
        return event.data.get(key) not in getattr(state, attribute)
    if kind in _SET_REMOVES:
        attribute, key = _SET_REMOVES[kind]
        return event.data.get(key) in getattr(state, attribute)
    if kind == "user.registered":
        return state.registered_at is None
    if kind == "user.updated":
        email = event.data.get("email")
        if email is not None and email != state.email:
            return True
        fields = event.data.get("fields") or {}
        return any(state.fields.get(name) != value for name, value in fields.items())
    return True


def school_event_changes(state: LearnerState, event: SchoolEvent) -> dict[str, Any]:
    """The fields `event` changes, with their new values (empty: none).
    Engine-derived events (a cause chain: `event.derived`, read here as the
    tuple itself, once per input) are not activity."""
    update: dict[str, Any] = {}
    kind, data = event.type, event.data
    if event.subject == "user" and not state.registered:
        # A user-subject event means a registered user, even one whose
        # registration predates the stream.
        update["registered"] = True
    if kind in _SET_ADDS:
        attribute, key = _SET_ADDS[kind]
        if data.get(key) is not None:
            update[attribute] = getattr(state, attribute) | {data[key]}
    elif kind in _SET_REMOVES:
        attribute, key = _SET_REMOVES[kind]
        update[attribute] = getattr(state, attribute) - {data.get(key)}
    elif kind in ("user.registered", "user.updated"):
        if kind == "user.registered" and state.registered_at is None:
            update["registered_at"] = event.occurred_at
        if data.get("email") is not None:
            update["email"] = data["email"]
        if data.get("fields"):
            fields = dict(state.fields)
            for name, value in data["fields"].items():
                if value is None:
                    fields.pop(name, None)
                else:
                    fields[name] = value
            update["fields"] = fields
    if not event.cause and (state.last_activity_at is None or event.occurred_at > state.last_activity_at):
        update["last_activity_at"] = event.occurred_at
    return update
