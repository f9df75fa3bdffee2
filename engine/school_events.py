"""The school-event input contract: what a learning platform streams in.

Owns the event envelope, the per-type payloads of DESIGN.md's catalogue and
`parse_school_event`, which turns any mapping into either a `SchoolEvent` or an
`EventRejected` value carrying a one-line reason (the dead-letter reason).
Parsing never raises on bad input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

Subject = Literal["user", "lead", "visitor"]
FieldValue = str | int | float | bool | None

MAX_ID_LENGTH = 200


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

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a UTC offset (RFC 3339)")
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
    try:
        payload = payload_model.model_validate(event.data)
    except ValidationError as error:
        return EventRejected(reason=_describe(error, prefix="data"), event_id=event_id)
    return event.model_copy(update={"data": payload.model_dump(exclude_none=False)})


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
