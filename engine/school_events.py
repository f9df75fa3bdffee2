"""The school-event input contract: what a learning platform streams in.

Owns the event envelope, the per-type payloads of DESIGN.md's catalogue and
`parse_school_event`, which turns any mapping into either a `SchoolEvent` or an
`EventRejected` value carrying a one-line reason (the dead-letter reason).
Parsing never raises on bad input.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

Subject = Literal["user", "lead", "visitor"]
FieldValue = str | int | float | bool | None

MAX_ID_LENGTH = 200
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


class SchoolEvent(BaseModel):
    """One learner event. `data` is kept as the validated plain mapping.

    `cause` is empty for events from the platform; for events the engine derives
    from its own actions (ruling 13) it is the chain of ids that led here, which
    both marks them as not-activity and bounds loops.
    """

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
        # Without this, a number (or a text of digits) is read as Unix seconds in UTC.
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().lstrip("-").replace(".", "").isdigit()):
            raise ValueError("must be an RFC 3339 date-time with a UTC offset, not a number")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a UTC offset (RFC 3339)")
        if not EARLIEST <= value < LATEST:
            raise ValueError("must lie between 1970 and 2999")
        return value

    @property
    def key(self) -> str:
        """The Kafka key of every learner-scoped topic."""
        return f"{self.school}:{self.user}"

    @property
    def derived(self) -> bool:
        return bool(self.cause)


class EventRejected(BaseModel):
    """A school event that fails the contract, with the reason for the dead-letter topic."""

    model_config = ConfigDict(frozen=True)

    reason: str
    event_id: str | None = None


def parse_school_event(raw: Any) -> SchoolEvent | EventRejected:
    """Validate a decoded JSON/Avro mapping against the contract; never raises."""
    if not isinstance(raw, Mapping):
        return EventRejected(reason=f"an event must be a JSON object, got {type(raw).__name__}")
    event_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    try:
        event = SchoolEvent.model_validate(dict(raw))
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
    not_finite = _not_finite(data, "data")
    if not_finite:
        return EventRejected(reason=f"{not_finite}: not a finite number", event_id=event_id)
    return event.model_copy(update={"data": data})


def _not_from_a_platform(event: SchoolEvent) -> str | None:
    """What only the engine may put in an event, or a key that could name two learners."""
    if event.type == "user.inactive":
        return "user.inactive is made by the engine (at last activity + N days, ruling 3), not sent by a platform"
    if event.cause:
        return "cause is the engine's own (the chain of a derived event, ruling 13); a platform event has none"
    if ":" in event.school:
        return "school: must not contain ':' (it separates school and user in every key)"
    return None


def _not_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinite number in `value` (JSON allows 1e400)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, Mapping):
        for name, item in value.items():
            found = _not_finite(item, f"{path}.{_printable(name)}")
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _not_finite(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _describe(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for item in error.errors():
        location = ".".join(_printable(p) for p in item["loc"])
        if prefix:
            location = f"{prefix}.{location}" if location else prefix
        parts.append(f"{location}: {item['msg']}" if location else item["msg"])
    return "; ".join(parts)


def _printable(part: Any) -> str:
    # Input keys may hold newlines or lone surrogates; a reason must stay one
    # line that can itself be written to the dead-letter topic.
    text = str(part)
    return text if text.isprintable() else repr(text)
