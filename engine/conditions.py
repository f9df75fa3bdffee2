"""Condition evaluation against a learner's state, with the values each condition saw.

Owns the meaning of every condition of `engine.definitions` (used by trigger
conditions, branches and exit filters) and the trace entry each evaluation
leaves, so a run's history can answer "why did (or didn't) learner X get
email Y": the condition, the learner's value it read, and the result.
A condition with a missing parameter or an unreadable learner value is
false, never an error (validation keeps such conditions out of active
automations; the trace shows what was seen).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Callable

from engine import definitions as d
from engine.learner import LearnerState
from engine.patterns import search

Seen = Any
Trace = dict[str, Any]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _moment(value: Any) -> datetime | None:
    """An ISO date (00:00 UTC) or date-time (naive read as UTC) as an aware instant."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _equal(seen: Any, wanted: Any) -> bool:
    if seen is None or wanted is None:
        return False
    if seen == wanted and type(seen) is type(wanted):
        return True
    seen_number, wanted_number = _number(seen), _number(wanted)
    if seen_number is not None and wanted_number is not None:
        return seen_number == wanted_number
    return str(seen).casefold() == str(wanted).casefold()


def _membership(attribute: str, parameter: str, negate: bool = False):
    def check(condition, state: LearnerState) -> tuple[bool, Seen]:
        wanted = getattr(condition, parameter)
        held = wanted is not None and wanted in getattr(state, attribute)
        return (not held if negate and wanted is not None else held), held

    return check


def _email_is(condition: d.EmailIs, state: LearnerState) -> tuple[bool, Seen]:
    email, wanted = state.email, condition.value
    if email is None or wanted is None:
        return False, email
    if condition.regex:
        return search(wanted, email), email
    return email.casefold() == wanted.casefold(), email


def _email_contains(condition: d.EmailContains, state: LearnerState) -> tuple[bool, Seen]:
    email, wanted = state.email, condition.value
    return (email is not None and bool(wanted) and wanted.casefold() in email.casefold()), email


def _field(condition, state: LearnerState) -> Any:
    return state.fields.get(condition.field) if condition.field else None


def _field_equals(condition: d.FieldEquals, state: LearnerState) -> tuple[bool, Seen]:
    seen = _field(condition, state)
    return _equal(seen, condition.value), seen


def _field_contains(condition: d.FieldContains, state: LearnerState) -> tuple[bool, Seen]:
    seen = _field(condition, state)
    wanted = condition.value
    return (seen is not None and bool(wanted) and wanted.casefold() in str(seen).casefold()), seen


def _compare(better: Callable[[float, float], bool]):
    def check(condition, state: LearnerState) -> tuple[bool, Seen]:
        seen = _field(condition, state)
        number = _number(seen)
        return (number is not None and condition.value is not None and better(number, condition.value)), seen

    return check


def _field_is_empty(condition: d.FieldIsEmpty, state: LearnerState) -> tuple[bool, Seen]:
    seen = _field(condition, state)
    return (condition.field is not None and (seen is None or seen == "")), seen


def _field_is_set(condition: d.FieldIsSet, state: LearnerState) -> tuple[bool, Seen]:
    seen = _field(condition, state)
    return (seen is not None and seen != ""), seen


def _date_compare(before: bool):
    def check(condition, state: LearnerState) -> tuple[bool, Seen]:
        seen = _field(condition, state)
        moment, bound = _moment(seen), _moment(condition.date)
        if moment is None or bound is None:
            return False, seen
        return (moment < bound if before else moment > bound), seen

    return check


def _registered(before: bool):
    def check(condition, state: LearnerState) -> tuple[bool, Seen]:
        seen = state.registered_at
        shown = seen.isoformat() if seen else None
        if seen is None or condition.at is None:
            return False, shown
        return (seen < condition.at if before else seen > condition.at), shown

    return check


_CHECKS: dict[type, Callable[[Any, LearnerState], tuple[bool, Seen]]] = {
    d.HasTag: _membership("tags", "tag"),
    d.LacksTag: _membership("tags", "tag", negate=True),
    d.EnrolledInCourse: _membership("courses", "course"),
    d.NotEnrolledInCourse: _membership("courses", "course", negate=True),
    d.CompletedCourse: _membership("completed_courses", "course"),
    d.EnrolledInProgram: _membership("programs", "program"),
    d.CompletedProgram: _membership("completed_programs", "program"),
    d.PurchasedProduct: _membership("products", "product"),
    d.EmailIs: _email_is,
    d.EmailContains: _email_contains,
    d.FieldEquals: _field_equals,
    d.FieldContains: _field_contains,
    d.FieldGreater: _compare(lambda seen, wanted: seen > wanted),
    d.FieldLess: _compare(lambda seen, wanted: seen < wanted),
    d.FieldIsEmpty: _field_is_empty,
    d.FieldIsSet: _field_is_set,
    d.FieldDateBefore: _date_compare(before=True),
    d.FieldDateAfter: _date_compare(before=False),
    d.RegisteredBefore: _registered(before=True),
    d.RegisteredAfter: _registered(before=False),
}


def holds(condition, state: LearnerState) -> tuple[bool, Seen]:
    """Whether the condition holds now, and the learner's value it read."""
    return _CHECKS[type(condition)](condition, state)


def _as_entry(condition) -> dict[str, Any]:
    """`condition.model_dump(exclude_none=True)` at a fifth of the cost: conditions are
    flat models of scalars (a test holds every type to it), and every trigger, branch
    and exit evaluation traces each of its conditions."""
    return {name: value for name, value in condition.__dict__.items() if value is not None}


def evaluate(conditions: list, match: str, state: LearnerState) -> tuple[bool, Trace]:
    """All (AND) or any (OR) of the conditions, with every condition's trace entry.

    Every condition is evaluated (no short cut) so the trace shows all values seen.
    An empty list holds under either: conditions are optional filters (the guide),
    and a trigger or exit with none filters nothing, also when it says "any"
    (a branch always has one: validation).
    """
    entries = []
    results = []
    for condition in conditions:
        result, seen = holds(condition, state)
        results.append(result)
        entry = _as_entry(condition)
        entry["seen"] = seen if not isinstance(seen, frozenset) else sorted(seen)
        entry["result"] = result
        entries.append(entry)
    outcome = all(results) if match == "all" or not results else any(results)
    return outcome, {"match": match, "result": outcome, "conditions": entries}
