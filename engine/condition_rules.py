"""What a condition must name and hold before an automation may be activated.

Owns `condition_problems` for the conditions of triggers, branches and exit
filters (each names what it tests; regular expressions compile under RE2;
dates parse; registration moments carry an offset), and the two value tests
the flow rules share with it (`is_missing`, `parse_iso`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from engine import definitions as d
from engine.documents import Problem
from engine.patterns import pattern_problem

_CONDITION_SUBJECTS: dict[type, tuple[tuple[str, str], ...]] = {
    d.HasTag: (("tag", "Choose the tag this condition checks."),),
    d.LacksTag: (("tag", "Choose the tag this condition checks."),),
    d.EnrolledInCourse: (("course", "Choose the course this condition checks."),),
    d.NotEnrolledInCourse: (("course", "Choose the course this condition checks."),),
    d.CompletedCourse: (("course", "Choose the course this condition checks."),),
    d.EnrolledInProgram: (("program", "Choose the program this condition checks."),),
    d.CompletedProgram: (("program", "Choose the program this condition checks."),),
    d.PurchasedProduct: (("product", "Choose the product this condition checks."),),
    d.EmailIs: (("value", "Enter the email address (or pattern) to compare with."),),
    d.EmailContains: (("value", "Enter the text the email must contain."),),
    d.FieldEquals: (
        ("field", "Enter the name of the profile field to check."),
        ("value", "Enter the value to compare the field with."),
    ),
    d.FieldContains: (
        ("field", "Enter the name of the profile field to check."),
        ("value", "Enter the text the field must contain."),
    ),
    d.FieldGreater: (
        ("field", "Enter the name of the profile field to check."),
        ("value", "Enter the number to compare the field with."),
    ),
    d.FieldLess: (
        ("field", "Enter the name of the profile field to check."),
        ("value", "Enter the number to compare the field with."),
    ),
    d.FieldIsEmpty: (("field", "Enter the name of the profile field to check."),),
    d.FieldIsSet: (("field", "Enter the name of the profile field to check."),),
    d.FieldDateBefore: (
        ("field", "Enter the name of the profile field to check."),
        ("date", "Enter the date to compare the field with."),
    ),
    d.FieldDateAfter: (
        ("field", "Enter the name of the profile field to check."),
        ("date", "Enter the date to compare the field with."),
    ),
    d.RegisteredBefore: (("at", "Enter the date and time to compare the registration with."),),
    d.RegisteredAfter: (("at", "Enter the date and time to compare the registration with."),),
}


def condition_problems(conditions: list, path: str) -> Iterator[Problem]:
    """Problems of each condition of a trigger, branch or exit filter list at `path`."""
    for index, condition in enumerate(conditions):
        yield from _condition(condition, f"{path}[{index}]")


def _condition(condition: Any, path: str) -> Iterator[Problem]:
    missing = set()
    for name, message in _CONDITION_SUBJECTS[type(condition)]:
        if is_missing(getattr(condition, name)):
            missing.add(name)
            yield Problem(path=f"{path}.{name}", message=message)
    if isinstance(condition, d.EmailIs) and condition.regex and "value" not in missing:
        reason = pattern_problem(condition.value)
        if reason:
            yield Problem(
                path=f"{path}.value",
                message=f"This {reason}. Patterns use RE2 syntax, which has no "
                "look-arounds or back-references.",
            )
    if isinstance(condition, (d.FieldDateBefore, d.FieldDateAfter)) and "date" not in missing:
        if parse_iso(condition.date) is None:
            yield Problem(
                path=f"{path}.date",
                message=f"'{condition.date}' is not a date; write it as 2027-03-01 "
                "or 2027-03-01T09:00:00+00:00.",
            )
    if isinstance(condition, (d.RegisteredBefore, d.RegisteredAfter)) and "at" not in missing:
        if condition.at.utcoffset() is None:
            yield Problem(
                path=f"{path}.at",
                message="Add a UTC offset to this date and time (for example "
                "2027-03-01T09:00:00Z) so it means the same moment everywhere.",
            )


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
