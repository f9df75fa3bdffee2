"""Whether an automation may be activated: every rule of the guide and DESIGN.md ruling 9.

Owns `validate_automation` (re-exporting `Problem`), which reports every problem at once,
each with its path in the document (`flow[3].yes[0].amount`) and a sentence a
school administrator understands. `validate_document` is the front door for
raw files: shape errors first (engine.documents, which also defines `Problem`
so that it needs nothing from here), then the rules here. What each
condition must name is `engine.condition_rules`'.

The model (engine.definitions) is permissive on purpose: an invalid automation
can be saved but never activated, so these rules live here and not in the model.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from engine import definitions as d
from engine.condition_rules import condition_problems, is_missing, parse_iso
from engine.documents import Problem, document_problems, parse_automation, without_unknown_keys
from engine.identifiers import RULE, is_id
from engine.local_time import load_zone

MAX_TRIGGERS = 10
MAX_CONDITIONS_PER_TRIGGER = 10
MAX_EXITS = 10
MAX_FILTERS_PER_EXIT = 20
MAX_STEPS = 200
MIN_WAIT_MINUTES = 5
MAX_WAIT_MINUTES = 365 * 24 * 60
# Our ruling: the guide gives no bound; one keeps the wait-time math in range.
MAX_RUN_BEFORE_MINUTES = MAX_WAIT_MINUTES

# The longest wait the guide allows, and so the longest quiet spell worth watching for.
MAX_INACTIVITY_DAYS = 365
MINUTES_PER_UNIT = {"minutes": 1, "hours": 60, "days": 24 * 60, "weeks": 7 * 24 * 60}


def validate_automation(automation: d.Automation) -> list[Problem]:
    """Every rule, every problem, in document order; empty when it may be activated."""
    return [
        *_identity(automation),
        *_triggers(automation.triggers),
        *_flow(automation.flow),
        *_exits(automation.exits),
        *_unique_ids(automation),
    ]


def validate_document(raw: Any) -> tuple[d.Automation | None, list[Problem]]:
    """Parse a decoded JSON/YAML document and validate it; never raises."""
    unfit = document_problems(raw)
    if unfit:
        return None, unfit
    parsed = parse_automation(raw)
    if isinstance(parsed, list):
        # Unknown keys alone do not stop the rules: every problem is reported at once.
        stripped = without_unknown_keys(raw)
        readable = parse_automation(stripped) if stripped is not None else None
        if isinstance(readable, d.Automation):
            return None, parsed + [p for p in validate_automation(readable) if not _beside_unknown(p.path, parsed)]
        return None, parsed
    return parsed, validate_automation(parsed)


def _beside_unknown(path: str, unknown: list[Problem]) -> bool:
    """Whether a rule problem sits in an object that also has an unknown key: most likely
    its consequence (a misspelt `templat:` leaves the email without a template)."""
    for problem in unknown:
        parent = problem.path.rpartition(".")[0]
        if parent and (path == parent or path.startswith(parent + ".") or path.startswith(parent + "[")):
            return True
        if not parent and "." not in path and "[" not in path:  # a misspelt top-level key
            return True
    return False


# ---------------------------------------------------------------- identity


def _identity(automation: d.Automation) -> Iterator[Problem]:
    if _blank(automation.id):
        yield Problem(path="id", message="Give the automation an id.")
    elif not is_id(automation.id):
        yield Problem(path="id", message=_not_an_id(automation.id))
    if _blank(automation.school):
        yield Problem(path="school", message="Say which school the automation belongs to.")
    elif ":" in automation.school:
        # As in school events: ':' separates the school from the user or automation in every key.
        yield Problem(path="school", message="A school id cannot contain ':'.")
    elif not is_id(automation.school):
        yield Problem(path="school", message=_not_an_id(automation.school))
    if _blank(automation.name):
        yield Problem(path="name", message="Give the automation a name.")


# ---------------------------------------------------------------- triggers and exits

# Which event parameters mean something for which event (DESIGN.md's catalogue).
MATCHER_PARAMETERS = (
    "tag", "course", "lesson", "program", "product",
    "certificate", "assessment", "passed", "kind", "days",
)
PARAMETERS_BY_EVENT: dict[str, frozenset[str]] = {
    "user.registered": frozenset(),
    "user.updated": frozenset(),
    "user.tag_added": frozenset({"tag"}),
    "user.tag_removed": frozenset({"tag"}),
    "user.activity": frozenset({"kind"}),
    "course.enrolled": frozenset({"course"}),
    "course.unenrolled": frozenset({"course"}),
    "course.completed": frozenset({"course"}),
    "lesson.completed": frozenset({"course", "lesson"}),
    "program.enrolled": frozenset({"program"}),
    "program.completed": frozenset({"program"}),
    "product.purchased": frozenset({"product"}),
    "certificate.issued": frozenset({"certificate", "course"}),
    "assessment.submitted": frozenset({"assessment", "passed"}),
    "user.inactive": frozenset({"days"}),
}


def _triggers(triggers: list[d.Trigger]) -> Iterator[Problem]:
    if not triggers:
        yield Problem(path="triggers", message="Add a trigger: every automation starts with one.")
    if len(triggers) > MAX_TRIGGERS:
        yield Problem(
            path="triggers",
            message=f"An automation can have at most {MAX_TRIGGERS} triggers; "
            f"this one has {len(triggers)}.",
        )
    for index, trigger in enumerate(triggers):
        path = f"triggers[{index}]"
        yield from _matcher(trigger, path, "A trigger")
        if len(trigger.conditions) > MAX_CONDITIONS_PER_TRIGGER:
            yield Problem(
                path=f"{path}.conditions",
                message=f"A trigger can have at most {MAX_CONDITIONS_PER_TRIGGER} conditions; "
                f"this one has {len(trigger.conditions)}.",
            )
        yield from condition_problems(trigger.conditions, f"{path}.conditions")


def _exits(exits: list[d.ExitCondition]) -> Iterator[Problem]:
    if len(exits) > MAX_EXITS:
        yield Problem(
            path="exits",
            message=f"An automation can have at most {MAX_EXITS} exit conditions; "
            f"this one has {len(exits)}.",
        )
    for index, exit_condition in enumerate(exits):
        path = f"exits[{index}]"
        yield from _matcher(exit_condition, path, "An exit condition")
        if len(exit_condition.filters) > MAX_FILTERS_PER_EXIT:
            yield Problem(
                path=f"{path}.filters",
                message=f"An exit condition can have at most {MAX_FILTERS_PER_EXIT} filters; "
                f"this one has {len(exit_condition.filters)}.",
            )
        yield from condition_problems(exit_condition.filters, f"{path}.filters")


def _matcher(matcher: d.EventMatcher, path: str, what: str) -> Iterator[Problem]:
    allowed = PARAMETERS_BY_EVENT[matcher.event]
    for name in MATCHER_PARAMETERS:
        value = getattr(matcher, name)
        if value is None:
            continue
        if name not in allowed:
            yield Problem(
                path=f"{path}.{name}",
                message=f"{what} on '{matcher.event}' cannot use '{name}'; remove it"
                + (f" (this event takes: {', '.join(sorted(allowed))})." if allowed else "."),
            )
        elif isinstance(value, str) and not value.strip():
            yield Problem(
                path=f"{path}.{name}",
                message=f"The {name} is empty; enter one, or leave it out to match any {name}.",
            )
    if matcher.event == "user.inactive":
        if matcher.days is None:
            yield Problem(
                path=f"{path}.days",
                message="Say after how many days without activity this fires.",
            )
        elif matcher.days < 1:
            yield Problem(
                path=f"{path}.days", message="Inactivity must last at least 1 day."
            )
        elif matcher.days > MAX_INACTIVITY_DAYS:
            yield Problem(
                path=f"{path}.days",
                message=f"Inactivity can last at most {MAX_INACTIVITY_DAYS} days, like a wait; "
                f"this one is {matcher.days} days.",
            )


# ---------------------------------------------------------------- the flow

_ACTION_TARGETS: dict[type, tuple[str, str]] = {
    d.SendEmail: ("template", "Choose the email template to send."),
    d.AddTag: ("tag", "Choose the tag to add."),
    d.RemoveTag: ("tag", "Choose the tag to remove."),
    d.EnrollInCourse: ("course", "Choose the course to enroll the learner in."),
    d.UnenrollFromCourse: ("course", "Choose the course to unenroll the learner from."),
    d.EnrollInProgram: ("program", "Choose the program to enroll the learner in."),
    d.UnenrollFromProgram: ("program", "Choose the program to unenroll the learner from."),
    d.EnrollInProduct: ("product", "Choose the product to enroll the learner in."),
    d.UnenrollFromProduct: ("product", "Choose the product to unenroll the learner from."),
    d.SetField: ("field", "Enter the name of the profile field to set."),
}


def _flow(flow: list) -> Iterator[Problem]:
    if not flow:
        yield Problem(path="flow", message="The flow is empty: add at least one step.")
    steps = list(d.iter_steps(flow))
    if len(steps) > MAX_STEPS:
        yield Problem(
            path="flow",
            message=f"An automation can have at most {MAX_STEPS} steps (branches and the "
            f"steps inside them count); this one has {len(steps)}.",
        )
    for path, step in steps:
        yield from _step(step, path)
    yield from _waits_in_a_row(flow)


def _step(step: Any, path: str) -> Iterator[Problem]:
    if d.is_action(step):
        name, message = _ACTION_TARGETS[type(step)]
        if is_missing(getattr(step, name)):
            yield Problem(path=f"{path}.{name}", message=message)
    elif isinstance(step, d.Branch):
        if not step.conditions:
            yield Problem(
                path=f"{path}.conditions",
                message="A branch needs at least one condition to choose between yes and no.",
            )
        yield from condition_problems(step.conditions, f"{path}.conditions")
    elif d.is_wait(step):
        yield from _wait(step, path)


def _wait(wait: Any, path: str) -> Iterator[Problem]:
    # The same zone list the waits resolve against, so a valid wait never fails on its zone.
    if load_zone(wait.timezone) is None:
        yield Problem(
            path=f"{path}.timezone",
            message=f"'{wait.timezone}' is not a timezone we know; use a name such as "
            "Europe/London, America/New_York or UTC.",
        )
    if isinstance(wait, d.WaitDuration):
        yield from _duration(wait, path)
    elif isinstance(wait, d.WaitUntilDatetime):
        yield from _local_datetime(wait.at, f"{path}.at")
    elif isinstance(wait, d.WaitUntilTimeOfDay):
        yield from _time_of_day(wait.time, f"{path}.time")
    elif isinstance(wait, d.WaitUntilWeekday):
        if wait.weekday is None:
            yield Problem(path=f"{path}.weekday", message="Choose the day of the week to wait for.")
        yield from _time_of_day(wait.time, f"{path}.time")
    elif isinstance(wait, (d.WaitFieldDuration, d.WaitFieldDate)):
        if is_missing(wait.field):
            yield Problem(
                path=f"{path}.field",
                message="Enter the name of the profile field this wait reads.",
            )
        if isinstance(wait, d.WaitFieldDate) and wait.before is not None:
            yield from _run_before(wait.before, f"{path}.before")


def _duration(wait: d.WaitDuration, path: str) -> Iterator[Problem]:
    if wait.amount is None:
        yield Problem(path=f"{path}.amount", message="Enter how long to wait.")
        return
    minutes = wait.amount * MINUTES_PER_UNIT[wait.unit]
    if minutes < MIN_WAIT_MINUTES:
        yield Problem(
            path=f"{path}.amount",
            message=f"A wait must last at least 5 minutes; this one is "
            f"{_amount(wait.amount, wait.unit)}.",
        )
    elif minutes > MAX_WAIT_MINUTES:
        yield Problem(
            path=f"{path}.amount",
            message=f"A wait can last at most 365 days; this one is "
            f"{_amount(wait.amount, wait.unit)}.",
        )


def _run_before(before: d.RunBefore, path: str) -> Iterator[Problem]:
    minutes = before.amount * MINUTES_PER_UNIT[before.unit]
    if before.amount < 1:
        yield Problem(
            path=f"{path}.amount",
            message="'Run before the moment' needs a positive offset (at least 1).",
        )
    elif minutes > MAX_RUN_BEFORE_MINUTES:
        yield Problem(
            path=f"{path}.amount",
            message=f"'Run before the moment' can be at most 365 days; this one is "
            f"{_amount(before.amount, before.unit)}.",
        )


def _local_datetime(value: str | None, path: str) -> Iterator[Problem]:
    if is_missing(value):
        yield Problem(path=path, message="Enter the date and time to wait until.")
        return
    parsed = parse_iso(value)
    if parsed is None:
        yield Problem(
            path=path,
            message=f"'{value}' is not a date and time; write it as 2027-03-01T09:00.",
        )
    elif parsed.tzinfo is not None:
        yield Problem(
            path=path,
            message=f"Leave the UTC offset out of '{value}': the step's timezone "
            "says where this time is read.",
        )


def _time_of_day(value: str | None, path: str) -> Iterator[Problem]:
    if is_missing(value):
        yield Problem(path=path, message="Enter the time of day, as HH:MM.")
    elif not _is_hh_mm(value):
        yield Problem(
            path=path,
            message=f"'{value}' is not a time of day; write it as HH:MM on a 24-hour "
            "clock, for example 09:30 or 18:00.",
        )


def _waits_in_a_row(flow: list) -> Iterator[Problem]:
    """Two waits with no action between them, on any path through the branches.

    Walks the flow carrying the waits that can reach the current point with no
    action since; a branch's yes and no paths each start from that set and
    their ends meet again after the branch (an empty path passes it through).
    """
    problems: list[Problem] = []

    def walk(steps: list, path: str, open_waits: tuple[str, ...]) -> tuple[str, ...]:
        for index, step in enumerate(steps):
            step_path = f"{path}[{index}]"
            if d.is_action(step):
                open_waits = ()
            elif d.is_wait(step):
                if open_waits:
                    problems.append(
                        Problem(
                            path=step_path,
                            message=f"This wait can follow the wait at {open_waits[0]} with "
                            "no action between them; add an action between the two waits.",
                        )
                    )
                open_waits = (step_path,)
            elif isinstance(step, d.Branch):
                after_yes = walk(step.yes, f"{step_path}.yes", open_waits)
                after_no = walk(step.no, f"{step_path}.no", open_waits)
                open_waits = tuple(dict.fromkeys(after_yes + after_no))
        return open_waits

    walk(flow, "flow", ())
    return iter(problems)


# ---------------------------------------------------------------- ids


def _unique_ids(automation: d.Automation) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for path, item in _everything_with_an_id(automation):
        if not item.id:
            continue
        if not is_id(item.id):
            yield Problem(path=f"{path}.id", message=_not_an_id(item.id))
        if item.id in seen:
            yield Problem(
                path=f"{path}.id",
                message=f"The id '{item.id}' is already used at {seen[item.id]}; "
                "ids must be unique within an automation.",
            )
        else:
            seen[item.id] = path


def _everything_with_an_id(automation: d.Automation) -> Iterable[tuple[str, Any]]:
    yield from ((f"triggers[{i}]", t) for i, t in enumerate(automation.triggers))
    yield from d.iter_steps(automation.flow)
    yield from ((f"exits[{i}]", e) for i, e in enumerate(automation.exits))


# ---------------------------------------------------------------- small helpers


def _not_an_id(value: str) -> str:
    shown = value if len(value) <= 60 else f"{value[:60]}..."
    return f"{shown!r} cannot be an id: an id {RULE}."


def _blank(value: str) -> bool:
    return not value.strip()


def _is_hh_mm(value: str) -> bool:
    return _HH_MM.fullmatch(value) is not None


_HH_MM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


def _amount(amount: int, unit: str) -> str:
    return f"{amount} {unit[:-1] if amount == 1 else unit}"
