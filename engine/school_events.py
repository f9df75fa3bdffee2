"""The school-event input contract: what a learning platform streams in.

Owns the event envelope, the per-type payloads of DESIGN.md's catalogue and
`parse_school_event`, which turns any mapping into either a `SchoolEvent` or an
`EventRejected` value carrying a one-line reason (the dead-letter reason).
Parsing never raises on bad input. The contract is checked by pydantic
documents (`SchoolEventDocument`, the payloads); what passes becomes a
`SchoolEvent`, the engine's plain value (`engine.values`), in one place.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from collections.abc import Mapping  # not typing's alias: its isinstance takes three calls more
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from engine.identifiers import MAX_ID_LENGTH, id_problem
from engine.nested import is_container, walk
from engine.school_event_shortcut import Shortcut
from engine.values import Value

Subject = Literal["user", "lead", "visitor"]
FieldValue = str | int | float | bool | None

# An offset, when there is one, is Z or +hh:mm; one without is refused later with its
# own reason (the date-time is read, then found to carry no offset).
_RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# What a rejection's reason names at most: problems, and characters of a field name.
MAX_REASONS = 5
MAX_NAME_CHARS = 80
# How deep an event's data may nest (real payloads nest two or three levels).
MAX_DATA_DEPTH = 32
# The workers' fan-out of a definition change to every learner names this user.
RESERVED_USER = "*"
# Event types only the engine makes (ruling 3): a platform's is refused.
ENGINE_ONLY_TYPES = frozenset({"user.inactive"})
# The instants an event may carry: a school event from before 1970 or after 2999 is a
# bug in the platform, and one near the end of the calendar would overflow the
# engine's date math (an inactivity timer is due up to 365 days later).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(3000, 1, 1, tzinfo=timezone.utc)


class _Payload(BaseModel):
    # Platforms add fields over time; unknown payload keys are tolerated, the
    # ones we read are typed.
    model_config = ConfigDict(frozen=True, extra="allow")


class UserRegistered(_Payload):
    email: str | None = None
    fields: dict[str, FieldValue] = {}


class UserUpdated(_Payload):
    email: str | None = None
    fields: dict[str, FieldValue] = {}


class TagChanged(_Payload):
    tag: str


class Activity(_Payload):
    kind: str | None = None


class CourseChanged(_Payload):
    course: str


class LessonCompleted(_Payload):
    course: str
    lesson: str


class ProgramChanged(_Payload):
    program: str


class ProductPurchased(_Payload):
    product: str


class CertificateIssued(_Payload):
    certificate: str
    course: str | None = None
    expires_at: str | None = None


class AssessmentSubmitted(_Payload):
    assessment: str
    score: float | None = None
    passed: bool | None = None


class Inactive(_Payload):
    days: int


PAYLOADS: dict[str, type[_Payload]] = {
    "user.registered": UserRegistered,
    "user.updated": UserUpdated,
    "user.tag_added": TagChanged,
    "user.tag_removed": TagChanged,
    "user.activity": Activity,
    "course.enrolled": CourseChanged,
    "course.unenrolled": CourseChanged,
    "course.completed": CourseChanged,
    "lesson.completed": LessonCompleted,
    "program.enrolled": ProgramChanged,
    "program.completed": ProgramChanged,
    "product.purchased": ProductPurchased,
    "certificate.issued": CertificateIssued,
    "assessment.submitted": AssessmentSubmitted,
    "user.inactive": Inactive,
}


class SchoolEvent(Value, kw_only=True):
    """One learner event, as the engine carries it. `data` is the validated plain mapping.

    Only `parse_school_event` makes one from outside input (the contract, checked);
    the engine makes its own (derived events, inactivity) from values it holds.
    `cause` is empty for events from the platform; for events the engine derives
    from its own actions (ruling 13) it is the chain of ids that led here, which
    both marks them as not-activity and bounds loops.
    """

    id: str
    type: str
    school: str
    user: str
    subject: Subject = "user"
    occurred_at: datetime
    data: dict[str, Any] = {}
    cause: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The Kafka key of every learner-scoped topic."""
        return f"{self.school}:{self.user}"

    @property
    def derived(self) -> bool:
        return bool(self.cause)


class SchoolEventDocument(BaseModel):
    """The contract's envelope, as a platform writes it: what `parse_school_event` checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: str
    school: str
    user: str
    subject: Subject = "user"
    occurred_at: datetime
    data: dict[str, Any] = {}
    cause: tuple[str, ...] = ()

    @field_validator("id", "school", "user")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > MAX_ID_LENGTH:
            raise ValueError(f"must be at most {MAX_ID_LENGTH} characters")
        return value

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _written_as_a_date_time(cls, value: Any) -> Any:
        # Without this, a number (or a text pydantic reads as one: "1e3", "+1700000000")
        # is taken as Unix seconds in UTC, and "+0000" offsets pass.
        if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
            raise ValueError("must be an RFC 3339 date-time with a UTC offset, not a number")
        if isinstance(value, str) and not _RFC_3339.fullmatch(value):
            raise ValueError("must be an RFC 3339 date-time with a UTC offset, such as 2027-03-01T09:00:00Z")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a UTC offset (RFC 3339)")
        if not EARLIEST <= value < LATEST:
            raise ValueError("must lie between 1970 and 2999")
        return value


class EventRejected(BaseModel):
    """A school event that fails the contract, with the reason for the dead-letter topic."""

    model_config = ConfigDict(frozen=True)

    reason: str
    event_id: str | None = None


def parse_school_event(raw: Any) -> SchoolEvent | EventRejected:
    """Validate a decoded JSON/Avro mapping against the contract; never raises.

    The common well-formed event is accepted by the shortcut, which gives the same value
    (`engine.school_event_shortcut`); everything else, every refusal included, by the documents."""
    event = _SHORTCUT.accepted(raw)
    if event is not None:
        return event
    return parse_by_the_documents(raw)


def parse_by_the_documents(raw: Any) -> SchoolEvent | EventRejected:
    """`parse_school_event` without the shortcut: the pydantic documents decide."""
    if not isinstance(raw, Mapping):
        return EventRejected(reason=f"an event must be a JSON object, got {type(raw).__name__}")
    event_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    try:
        event = SchoolEventDocument.model_validate(dict(raw))
    except ValidationError as error:
        return EventRejected(reason=_describe(error), event_id=event_id)
    payload_model = PAYLOADS.get(event.type)
    if payload_model is None:
        return EventRejected(reason=f"unknown event type {event.type!r}", event_id=event_id)
    refusal = _not_from_a_platform(event)
    if refusal:
        return EventRejected(reason=refusal, event_id=event_id)
    try:
        payload = payload_model.model_validate(event.data)
    except ValidationError as error:
        return EventRejected(reason=_describe(error, prefix="data"), event_id=event_id)
    data = payload.model_dump(exclude_none=False)
    unfit = _unfit_value(data, "data")
    if unfit:
        return EventRejected(reason=unfit, event_id=event_id)
    return SchoolEvent(
        id=event.id, type=event.type, school=event.school, user=event.user, subject=event.subject,
        occurred_at=event.occurred_at, data=data, cause=event.cause,
    )


def _not_from_a_platform(event: SchoolEventDocument) -> str | None:
    """What only the engine may put in an event, or a key that could name two learners."""
    if event.type in ENGINE_ONLY_TYPES:
        return f"{event.type} is made by the engine (at last activity + N days, ruling 3), not sent by a platform"
    if event.cause:
        return "cause is the engine's own (the chain of a derived event, ruling 13); a platform event has none"
    if ":" in event.school:
        return "school: must not contain ':' (it separates school and user in every key)"
    if event.user == RESERVED_USER:
        return f"user: {RESERVED_USER!r} is reserved (it addresses every learner of a partition)"
    for field, value in (("school", event.school), ("user", event.user)):
        unfit = id_problem(field, value)
        if unfit:
            return unfit
    return None


def _unfit_value(value: Any, path: str) -> str | None:
    """Why `value` cannot be carried on: the first NaN or infinite number (JSON allows
    1e400), or nesting deeper than MAX_DATA_DEPTH (every record and trace that copies
    the data would have to serialise it). None when it fits."""
    if _fits(value):
        return None  # every event that passes; the walk below names the first problem
    for item, where, depth in walk(value, path, lambda parent, name: f"{parent}.{_printable(name)}", MAX_DATA_DEPTH):
        if isinstance(item, float) and not math.isfinite(item):
            return f"{where}: not a finite number"
        if depth >= MAX_DATA_DEPTH and is_container(item):
            return f"{where}: nested deeper than {MAX_DATA_DEPTH} levels"
    return None


def _fits(value: Any) -> bool:
    """Whether `_unfit_value` finds nothing: the same checks, without naming paths."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, (dict, list, tuple)) or isinstance(item, Mapping):
            if depth >= MAX_DATA_DEPTH:
                return False
            children = item.values() if isinstance(item, Mapping) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def _describe(error: ValidationError, prefix: str = "") -> str:
    # A reason names the first few problems: an event with thousands of bad fields
    # would otherwise carry megabytes of reason to the dead-letter topic and back to
    # its sender.
    parts = []
    for item in error.errors(include_url=False, include_context=False, include_input=False)[:MAX_REASONS]:
        location = ".".join(_printable(p) for p in item["loc"])
        if prefix:
            location = f"{prefix}.{location}" if location else prefix
        parts.append(f"{location}: {item['msg']}" if location else item["msg"])
    more = error.error_count() - MAX_REASONS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _printable(part: Any) -> str:
    # Input keys may hold newlines or lone surrogates; a reason must stay one
    # line that can itself be written to the dead-letter topic, and short.
    text = str(part)
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= MAX_NAME_CHARS else f"{text[:MAX_NAME_CHARS]}..."


_SHORTCUT = Shortcut(PAYLOADS, ENGINE_ONLY_TYPES, SchoolEvent, MAX_ID_LENGTH, EARLIEST, LATEST, _fits)
