"""Entry: which automations a learner event starts, and which exits it fires.

Owns event matching (an event matches a trigger or exit when the types are
equal and every parameter the author set equals the event's), and the entry
rules in the order they apply to one automation (rulings 2 and 4):
a state event that changes nothing starts nothing; an event that occurred
before the automation's activation starts nothing; the triggers are tried in
order and the first whose conditions hold (on the state after the event) is
the firing trigger. Every decision carries the trace of what was tried.
The 60-second rule and run ids belong to the decider, which starts runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.conditions import evaluate
from engine.definitions import Automation, EventMatcher, Trigger
from engine.learner import LearnerState
from engine.school_events import SchoolEvent
from engine.values import Value

if TYPE_CHECKING:
    from engine.catalog import Candidate

# The parameter that tells events of a type apart most (the catalog indexes on it).
PRIMARY_PARAMETER: dict[str, str] = {
    "user.tag_added": "tag",
    "user.tag_removed": "tag",
    "user.activity": "kind",
    "course.enrolled": "course",
    "course.unenrolled": "course",
    "course.completed": "course",
    "lesson.completed": "course",
    "program.enrolled": "program",
    "program.completed": "program",
    "product.purchased": "product",
    "certificate.issued": "certificate",
    "assessment.submitted": "assessment",
    "user.inactive": "days",
}
_PARAMETERS = ("tag", "course", "lesson", "program", "product", "certificate", "assessment", "passed", "kind", "days")


def matcher_parameters(matcher: EventMatcher) -> tuple[tuple[str, Any], ...]:
    """The parameters the author set on a trigger or exit, with their values."""
    return tuple((name, getattr(matcher, name)) for name in _PARAMETERS if getattr(matcher, name) is not None)


def event_matches(matcher: EventMatcher, event: SchoolEvent, parameters: tuple | None = None) -> bool:
    """`parameters`: the matcher's own, when the caller keeps them (the catalog does)."""
    if matcher.event != event.type:
        return False
    data = event.data
    for name, wanted in matcher_parameters(matcher) if parameters is None else parameters:
        if data.get(name) != wanted:
            return False
    return True


# Engine values like the rest: a few are built for most learner events.
class Entry(Value, kw_only=True):
    """The firing trigger of one automation for one event."""

    automation: Automation
    trigger: Trigger
    trace: list[dict[str, Any]]


class Declined(Value, kw_only=True):
    """An automation whose trigger event matched but that starts no run, and why."""

    automation: Automation
    reason: str
    trace: list[dict[str, Any]]


def _trigger_trace(trigger: Trigger, state: LearnerState) -> tuple[bool, dict[str, Any]]:
    holds, conditions = evaluate(trigger.conditions, trigger.match, state)
    return holds, {"trigger": trigger.id, "event": trigger.event, "fired": holds, **conditions}


def match_entries(
    candidates: "tuple[Candidate, ...]", state: LearnerState, event: SchoolEvent, changed: bool
) -> list[Entry | Declined]:
    """Per automation of the learner's school whose trigger event matches: Entry or Declined.

    `candidates`: the catalog's for the event (`Catalog.candidates`), which the
    caller looks up first, as most events have none. `state` is the learner after
    the event; `changed` says whether the event changed what a state trigger
    watches (computed before it was applied).
    """
    decisions: list[Entry | Declined] = []
    current: Automation | None = None
    tried: list[dict[str, Any]] = []
    settled = False
    for candidate in candidates:
        automation = candidate.automation
        if automation is not current:
            if current is not None and not settled and tried:
                decisions.append(Declined(automation=current, reason="conditions not met", trace=tried))
            current, tried, settled = automation, [], False
        if settled or not event_matches(candidate.trigger, event, candidate.parameters):
            continue
        if not changed:
            reason = f"{event.type} changed nothing for the learner"
            decisions.append(Declined(automation=automation, reason=reason, trace=[]))
            settled = True
        elif automation.activated_at is not None and event.occurred_at < automation.activated_at:
            reason = "the event occurred before the automation was activated"
            decisions.append(Declined(automation=automation, reason=reason, trace=[]))
            settled = True
        else:
            holds, entry = _trigger_trace(candidate.trigger, state)
            tried.append(entry)
            if holds:
                decisions.append(Entry(automation=automation, trigger=candidate.trigger, trace=tried))
                settled = True
    if current is not None and not settled and tried:
        decisions.append(Declined(automation=current, reason="conditions not met", trace=tried))
    return decisions


class ExitCheck(Value, kw_only=True):
    """One exit condition whose event matched, with its filters' trace."""

    exit_id: str | None
    matched: bool
    trace: dict[str, Any]


def check_exits(automation: Automation, state: LearnerState, event: SchoolEvent, changed: bool) -> list[ExitCheck]:
    """Ruling 6: exits are OR-ed, tried in order until one fires; filters see the state after the event.

    A state event that changes nothing fires no exit, as it fires no trigger.
    """
    if not changed:
        return []
    checks = []
    for exit_condition in automation.exits:
        if event_matches(exit_condition, event):
            holds, trace = evaluate(exit_condition.filters, exit_condition.match, state)
            checks.append(ExitCheck(exit_id=exit_condition.id, matched=holds, trace=trace))
            if holds:
                break
    return checks
