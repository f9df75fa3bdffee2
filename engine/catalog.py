"""The automations a worker knows, indexed for the hot path.

Owns `Catalog`, built from the definitions global table: which automations
accept entries (`for_school`: active ones, in a stable order), lookup of any
known one (`get`: active, inactive or finishing; deleted ones are absent, so
their runs find nothing), the trigger index (event type and its main
parameter -> candidate triggers, so an event costs a dict lookup, not a scan
of a school's thousand automations), the inactivity day counts in use, and
each version's flow index (step by id, the step after each step).
A catalog is immutable once built; a definitions change builds a new one.
"""

from __future__ import annotations

from typing import Iterable

from engine.definitions import Automation, Branch, Trigger, is_wait
from engine.triggers import PRIMARY_PARAMETER, matcher_parameters
from engine.values import Value

_NONE: frozenset = frozenset()


class FlowIndex:
    """Navigation of one automation version's flow by step id (ruling 7).

    The step after a step is its next sibling; after the last step of a yes
    or no list comes the step after the branch that holds the list.
    """

    def __init__(self, flow: list):
        self.steps: dict[str, object] = {}
        self.successor: dict[str, str | None] = {}
        # "branch", "wait" or "action" per step: runs ask at every step, and isinstance
        # on a pydantic model class goes through ABCMeta.
        self.kinds: dict[str, str] = {}
        self.first: str | None = flow[0].id if flow else None
        self._followers: dict[str, tuple[str, ...]] = {}  # filled as runs reach the steps
        self._index(flow, None)

    def _index(self, steps: list, after: str | None) -> None:
        for position, step in enumerate(steps):
            following = steps[position + 1].id if position + 1 < len(steps) else after
            self.steps[step.id] = step
            self.successor[step.id] = following
            self.kinds[step.id] = "branch" if isinstance(step, Branch) else "wait" if is_wait(step) else "action"
            if isinstance(step, Branch):
                self._index(step.yes, following)
                self._index(step.no, following)

    def followers(self, step_id: str) -> tuple[str, ...]:
        """The steps after `step_id`, in the order a run takes them (worked out once per step)."""
        found = self._followers.get(step_id)
        if found is None:
            chain = []
            current = self.successor.get(step_id)
            while current is not None:
                chain.append(current)
                current = self.successor.get(current)
            found = self._followers[step_id] = tuple(chain)
        return found


class Candidate(Value, kw_only=True):
    """One trigger an event may fire; `order` keeps automations, then triggers, in order.
    `parameters`: the trigger's set parameters (`matcher_parameters`), kept for matching."""

    order: tuple[int, int]
    automation: Automation
    trigger: Trigger
    parameters: tuple[tuple[str, object], ...]


class Catalog:
    def __init__(self, automations: Iterable[Automation]):
        self._all: dict[str, Automation] = {}
        for automation in automations:
            self._all[automation.id] = automation
        ordered = sorted(self._all.values(), key=lambda a: (a.school, a.id))
        self._active: dict[str, tuple[Automation, ...]] = {}
        for automation in ordered:
            if automation.status == "active":
                self._active.setdefault(automation.school, ())
                self._active[automation.school] += (automation,)
        self._flows = {a.id: FlowIndex(a.flow) for a in ordered}
        self._exit_types = {a.id: frozenset(x.event for x in a.exits) for a in ordered}
        self._school_exit_types: dict[str, frozenset[str]] = {}
        for automation in ordered:
            known = self._school_exit_types.get(automation.school, frozenset())
            self._school_exit_types[automation.school] = known | self._exit_types[automation.id]
        by_key: dict[tuple[str, str, object], list[Candidate]] = {}
        self._inactivity_days: dict[str, frozenset[int]] = {}
        for school, automations_of_school in self._active.items():
            days: set[int] = set()
            for rank, automation in enumerate(automations_of_school):
                for trigger_rank, trigger in enumerate(automation.triggers):
                    parameter = PRIMARY_PARAMETER.get(trigger.event)
                    value = getattr(trigger, parameter) if parameter else None
                    candidate = Candidate(
                        order=(rank, trigger_rank), automation=automation, trigger=trigger,
                        parameters=matcher_parameters(trigger),
                    )
                    by_key.setdefault((school, trigger.event, value), []).append(candidate)
                    if trigger.event == "user.inactive" and trigger.days is not None:
                        days.add(trigger.days)
            self._inactivity_days[school] = frozenset(days)
        # Exits on inactivity watch the same per-learner timers, for the runs of every
        # automation still holding some (deactivated and finishing ones too).
        for automation in ordered:
            exit_days = {x.days for x in automation.exits if x.event == "user.inactive" and x.days is not None}
            if exit_days:
                known = self._inactivity_days.get(automation.school, frozenset())
                self._inactivity_days[automation.school] = known | exit_days
        # Every key an event can hit, merged once: (school, type, None) holds the type's
        # wildcard triggers, a value's key its own triggers and the wildcards, in order.
        self._candidates: dict[tuple[str, str, object], tuple[Candidate, ...]] = {}
        for (school, event_type, value), found in by_key.items():
            wildcard = by_key.get((school, event_type, None), []) if value is not None else []
            self._candidates[(school, event_type, value)] = tuple(sorted(wildcard + found, key=lambda c: c.order))

    @classmethod
    def of(cls, automations: Iterable[Automation]) -> "Catalog":
        return cls(automations)

    def for_school(self, school: str) -> tuple[Automation, ...]:
        """Automations that accept entries: the school's active ones, ordered by id."""
        return self._active.get(school, ())

    def finishing(self) -> tuple[Automation, ...]:
        """Deleted with learners inside: no entries, removed once the last run ends."""
        return tuple(a for a in self._all.values() if a.status == "finishing")

    def get(self, automation_id: str) -> Automation | None:
        return self._all.get(automation_id)

    def flow(self, automation: Automation) -> FlowIndex:
        index = self._flows.get(automation.id)
        if index is None or self._all.get(automation.id) is not automation:
            index = FlowIndex(automation.flow)
        return index

    def exit_types(self, automation_id: str) -> frozenset[str]:
        """The event types any exit condition of the automation watches (none if unknown)."""
        return self._exit_types.get(automation_id, _NONE)

    def watched_by_exits(self, school: str, event_type: str) -> bool:
        """Whether any automation of the school (active or not) has an exit on this event type."""
        return event_type in self._school_exit_types.get(school, _NONE)

    def inactivity_days(self, school: str) -> frozenset[int]:
        return self._inactivity_days.get(school, _NONE)

    def candidates(self, school: str, event_type: str, data: dict) -> tuple[Candidate, ...]:
        """Triggers whose event type and main parameter fit, in automation then trigger order."""
        parameter = PRIMARY_PARAMETER.get(event_type)
        value = data.get(parameter) if parameter else None
        specific = self._candidates.get((school, event_type, value)) if value is not None else None
        return specific if specific is not None else self._candidates.get((school, event_type, None), ())
