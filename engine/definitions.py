"""The automation definition model: what an administrator builds, as data.

This module owns the shapes only (triggers, conditions, steps, waits, exits and
the automation that holds them). Whether a definition may be activated is
`engine.validation`'s business, so the model is deliberately permissive: an
action without a target or a 4-minute wait parses here and is reported there
(the guide lets an invalid automation be saved, never activated).

Every model is frozen; every step, trigger and exit has a stable id that
survives edits (ids are assigned at the edge when absent, see `assign_ids`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Callable, Iterator, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

# Numbers and true/false as written, never converted: "10" or true as a wait's
# amount would be a wait the author did not write, and the JSON Schema (the
# contract editors check against) refuses them too.
StrictInt = Annotated[int, Field(strict=True)]
StrictNumber = Annotated[float, Field(strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]

# ---------------------------------------------------------------- base


class Model(BaseModel):
    """Frozen, strict about unknown keys: a typo in a definition file is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


Match = Literal["all", "any"]

# ---------------------------------------------------------------- conditions
# Shared by trigger conditions, branch conditions and exit-condition filters.


class HasTag(Model):
    type: Literal["has_tag"]
    tag: str | None = None


class LacksTag(Model):
    type: Literal["lacks_tag"]
    tag: str | None = None


class EnrolledInCourse(Model):
    type: Literal["enrolled_in_course"]
    course: str | None = None


class NotEnrolledInCourse(Model):
    type: Literal["not_enrolled_in_course"]
    course: str | None = None


class CompletedCourse(Model):
    type: Literal["completed_course"]
    course: str | None = None


class EnrolledInProgram(Model):
    type: Literal["enrolled_in_program"]
    program: str | None = None


class CompletedProgram(Model):
    type: Literal["completed_program"]
    program: str | None = None


class PurchasedProduct(Model):
    type: Literal["purchased_product"]
    product: str | None = None


class EmailIs(Model):
    """Exact (case-insensitive) match, or a regular expression when `regex` is set.

    Patterns run under RE2 (linear time), so a hostile pattern cannot stall a worker.
    """

    type: Literal["email_is"]
    value: str | None = None
    regex: bool = False


class EmailContains(Model):
    type: Literal["email_contains"]
    value: str | None = None


class FieldEquals(Model):
    type: Literal["field_equals"]
    field: str | None = None
    value: str | int | float | bool | None = None


class FieldContains(Model):
    type: Literal["field_contains"]
    field: str | None = None
    value: str | None = None


class FieldGreater(Model):
    type: Literal["field_greater"]
    field: str | None = None
    value: StrictNumber | None = None


class FieldLess(Model):
    type: Literal["field_less"]
    field: str | None = None
    value: StrictNumber | None = None


class FieldIsEmpty(Model):
    type: Literal["field_is_empty"]
    field: str | None = None


class FieldIsSet(Model):
    type: Literal["field_is_set"]
    field: str | None = None


class FieldDateBefore(Model):
    """The field's date is before `date` (ISO date or date-time)."""

    type: Literal["field_date_before"]
    field: str | None = None
    date: str | None = None


class FieldDateAfter(Model):
    type: Literal["field_date_after"]
    field: str | None = None
    date: str | None = None


class RegisteredBefore(Model):
    type: Literal["registered_before"]
    at: datetime | None = None


class RegisteredAfter(Model):
    type: Literal["registered_after"]
    at: datetime | None = None


Condition = Annotated[
    Union[
        HasTag,
        LacksTag,
        EnrolledInCourse,
        NotEnrolledInCourse,
        CompletedCourse,
        EnrolledInProgram,
        CompletedProgram,
        PurchasedProduct,
        EmailIs,
        EmailContains,
        FieldEquals,
        FieldContains,
        FieldGreater,
        FieldLess,
        FieldIsEmpty,
        FieldIsSet,
        FieldDateBefore,
        FieldDateAfter,
        RegisteredBefore,
        RegisteredAfter,
    ],
    Field(discriminator="type"),
]

# ---------------------------------------------------------------- triggers and exits

# The school-event catalogue of DESIGN.md; `user.inactive` is made by the engine.
EventType = Literal[
    "user.registered",
    "user.updated",
    "user.tag_added",
    "user.tag_removed",
    "user.activity",
    "course.enrolled",
    "course.unenrolled",
    "course.completed",
    "lesson.completed",
    "program.enrolled",
    "program.completed",
    "product.purchased",
    "certificate.issued",
    "assessment.submitted",
    "user.inactive",
]


class EventMatcher(Model):
    """Which school events a trigger or an exit condition reacts to.

    A parameter left empty means "any" (any course, any tag...). Which
    parameters make sense for which event is checked by validation.
    """

    id: str | None = None
    event: EventType
    tag: str | None = None
    course: str | None = None
    lesson: str | None = None
    program: str | None = None
    product: str | None = None
    certificate: str | None = None
    assessment: str | None = None
    passed: StrictBool | None = None
    kind: str | None = None
    days: StrictInt | None = None  # user.inactive only


class Trigger(EventMatcher):
    """When (event) ... only if (conditions, up to 10)."""

    conditions: list[Condition] = []
    match: Match = "all"


class ExitCondition(EventMatcher):
    """Ends a learner's run early when its event happens and its filters hold."""

    filters: list[Condition] = []
    match: Match = "all"


# ---------------------------------------------------------------- actions


class SendEmail(Model):
    type: Literal["send_email"]
    id: str | None = None
    template: str | None = None


class AddTag(Model):
    type: Literal["add_tag"]
    id: str | None = None
    tag: str | None = None


class RemoveTag(Model):
    type: Literal["remove_tag"]
    id: str | None = None
    tag: str | None = None


class EnrollInCourse(Model):
    type: Literal["enroll_in_course"]
    id: str | None = None
    course: str | None = None


class UnenrollFromCourse(Model):
    type: Literal["unenroll_from_course"]
    id: str | None = None
    course: str | None = None


class EnrollInProgram(Model):
    type: Literal["enroll_in_program"]
    id: str | None = None
    program: str | None = None


class UnenrollFromProgram(Model):
    type: Literal["unenroll_from_program"]
    id: str | None = None
    program: str | None = None


class EnrollInProduct(Model):
    type: Literal["enroll_in_product"]
    id: str | None = None
    product: str | None = None


class UnenrollFromProduct(Model):
    type: Literal["unenroll_from_product"]
    id: str | None = None
    product: str | None = None


class SetField(Model):
    type: Literal["set_field"]
    id: str | None = None
    field: str | None = None
    value: str | int | float | bool | None = None


ACTION_TYPES = (
    SendEmail,
    AddTag,
    RemoveTag,
    EnrollInCourse,
    UnenrollFromCourse,
    EnrollInProgram,
    UnenrollFromProgram,
    EnrollInProduct,
    UnenrollFromProduct,
    SetField,
)

# ---------------------------------------------------------------- waits
# Every wait carries an IANA timezone (default UTC). Local wall times are
# "HH:MM" and dates ISO; resolution to an instant is engine.waits' job.

TimeUnit = Literal["minutes", "hours", "days"]
OffsetUnit = Literal["minutes", "hours", "days", "weeks"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class WaitDuration(Model):
    """Pause for a fixed time: 5 minutes to 365 days."""

    type: Literal["wait_duration"]
    id: str | None = None
    amount: StrictInt | None = None
    unit: TimeUnit = "days"
    timezone: str = "UTC"


class WaitUntilDatetime(Model):
    """Pause until an exact local date and time (`at`, no offset, read in `timezone`)."""

    type: Literal["wait_until_datetime"]
    id: str | None = None
    at: str | None = None
    if_passed: Literal["continue", "end"] = "continue"
    timezone: str = "UTC"


class WaitUntilTimeOfDay(Model):
    """Pause until `time` today, or tomorrow if it has passed."""

    type: Literal["wait_until_time_of_day"]
    id: str | None = None
    time: str | None = None
    timezone: str = "UTC"


class WaitUntilWeekday(Model):
    """Pause until the next `weekday` at `time`; today counts only if the time is still ahead."""

    type: Literal["wait_until_weekday"]
    id: str | None = None
    weekday: Weekday | None = None
    time: str | None = None
    timezone: str = "UTC"


class WaitFieldDuration(Model):
    """Read a number from the learner's profile field and wait that many units."""

    type: Literal["wait_field_duration"]
    id: str | None = None
    field: str | None = None
    unit: TimeUnit = "days"
    timezone: str = "UTC"


class RunBefore(Model):
    """"Run before the moment": fire this long before the field's date."""

    amount: StrictInt
    unit: OffsetUnit = "days"


class WaitFieldDate(Model):
    """Wait until the date (or date-time) in a profile field."""

    type: Literal["wait_field_date"]
    id: str | None = None
    field: str | None = None
    if_passed: Literal["continue", "end", "next_occurrence"] = "continue"
    before: RunBefore | None = None
    timezone: str = "UTC"


WAIT_TYPES = (
    WaitDuration,
    WaitUntilDatetime,
    WaitUntilTimeOfDay,
    WaitUntilWeekday,
    WaitFieldDuration,
    WaitFieldDate,
)

# ---------------------------------------------------------------- branches and steps


class Branch(Model):
    """If/else: the yes list when the conditions hold (all or any), else the no list.

    After the chosen list the flow continues with the step after the branch.
    """

    type: Literal["branch"]
    id: str | None = None
    conditions: list[Condition] = []
    match: Match = "all"
    yes: list["Step"] = []
    no: list["Step"] = []


Step = Annotated[
    Union[
        SendEmail,
        AddTag,
        RemoveTag,
        EnrollInCourse,
        UnenrollFromCourse,
        EnrollInProgram,
        UnenrollFromProgram,
        EnrollInProduct,
        UnenrollFromProduct,
        SetField,
        WaitDuration,
        WaitUntilDatetime,
        WaitUntilTimeOfDay,
        WaitUntilWeekday,
        WaitFieldDuration,
        WaitFieldDate,
        Branch,
    ],
    Field(discriminator="type"),
]
Branch.model_rebuild()

Action = Union[
    SendEmail,
    AddTag,
    RemoveTag,
    EnrollInCourse,
    UnenrollFromCourse,
    EnrollInProgram,
    UnenrollFromProgram,
    EnrollInProduct,
    UnenrollFromProduct,
    SetField,
]
Wait = Union[
    WaitDuration,
    WaitUntilDatetime,
    WaitUntilTimeOfDay,
    WaitUntilWeekday,
    WaitFieldDuration,
    WaitFieldDate,
]


def is_action(step: object) -> bool:
    return isinstance(step, ACTION_TYPES)


def is_wait(step: object) -> bool:
    return isinstance(step, WAIT_TYPES)


# ---------------------------------------------------------------- the automation

Status = Literal["inactive", "active", "finishing"]
ExecutionMode = Literal["synchronous", "asynchronous"]


class Automation(Model):
    """One automation as the author saves it.

    `status`, `version`, `last_edited_at` and `activated_at` are kept by the
    lifecycle (engine.lifecycle); an imported file may carry them but the
    lifecycle decides their values.
    """

    id: str
    school: str
    name: str
    groups: list[str] = []
    mode: ExecutionMode = "asynchronous"
    status: Status = "inactive"
    version: int = 0
    last_edited_at: datetime | None = None
    activated_at: datetime | None = None
    triggers: list[Trigger] = []
    flow: list[Step] = []
    exits: list[ExitCondition] = []


# ---------------------------------------------------------------- walking the flow


def iter_steps(steps: list, path: str = "flow") -> Iterator[tuple[str, object]]:
    """Every step with its document path, depth first (branch, then yes, then no)."""
    for index, step in enumerate(steps):
        step_path = f"{path}[{index}]"
        yield step_path, step
        if isinstance(step, Branch):
            yield from iter_steps(step.yes, f"{step_path}.yes")
            yield from iter_steps(step.no, f"{step_path}.no")


def find_step(steps: list, step_id: str) -> object | None:
    for _, step in iter_steps(steps):
        if getattr(step, "id", None) == step_id:
            return step
    return None


def assign_ids(automation: Automation, new_id: Callable[[str], str]) -> Automation:
    """Give every step, trigger and exit without an id one, keeping existing ids.

    `new_id(path)` comes from the caller (the edge owns uuids; a deterministic
    function of the path is fine for tests). Ids already present are never
    changed, which is what keeps a learner's position valid across edits.
    """

    def with_id(item, path: str):
        return item if item.id else item.model_copy(update={"id": new_id(path)})

    def walk(steps: list, path: str) -> list:
        out = []
        for index, step in enumerate(steps):
            step_path = f"{path}[{index}]"
            step = with_id(step, step_path)
            if isinstance(step, Branch):
                step = step.model_copy(
                    update={
                        "yes": walk(step.yes, f"{step_path}.yes"),
                        "no": walk(step.no, f"{step_path}.no"),
                    }
                )
            out.append(step)
        return out

    return automation.model_copy(
        update={
            "triggers": [with_id(t, f"triggers[{i}]") for i, t in enumerate(automation.triggers)],
            "exits": [with_id(e, f"exits[{i}]") for i, e in enumerate(automation.exits)],
            "flow": walk(automation.flow, "flow"),
        }
    )
