"""The definitions lifecycle (DESIGN.md ruling 10) as a pure decider.

Owns the author's commands (save, activate, deactivate, delete, duplicate,
import, and the end of a finishing delete), the past-tense events they
become on the definitions topic, `DefinitionsState` (every automation by id,
and the ids deleted for good), `decide`, `evolve` and `removed_step_ids`.

Rules kept here:
- Which command is legal in which status is the `ALLOWED` table; an illegal
  move is a `Rejected` naming the command and the status.
- Saving bumps `version` and `last_edited_at` and keeps the status; an edit
  with problems is refused over an active automation (it would be running
  it), accepted over an inactive one (saved, never activated).
- Activation is refused with every problem while the definition is invalid,
  and stamps `activated_at` (ruling 2 counts events from the latest one).
- Every change bumps `version`, so a worker can wait for "version N".
- Automation ids are unique across schools: the runtime catalog looks them
  up by id alone. A deleted id is never reused, so old run records and
  idempotency keys cannot be mistaken for a new automation's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from engine.definitions import Automation, iter_steps
from engine.documents import Problem
from engine.identifiers import id_problem, is_id
from engine.validation import validate_automation

DeleteMode = Literal["finishing", "immediate"]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- commands


class SaveAutomation(_Message):
    """Save (create or edit) a definition; every trigger, step and exit carries an id."""

    automation: Automation
    now: datetime


class ActivateAutomation(_Message):
    automation_id: str
    now: datetime


class DeactivateAutomation(_Message):
    """Stop new entries; learners inside carry on to the end of their path."""

    automation_id: str
    now: datetime


class DeleteAutomation(_Message):
    """`mode` is required when learners are inside (the edge counts them)."""

    automation_id: str
    mode: DeleteMode | None = None
    has_learners_inside: bool
    now: datetime


class DuplicateAutomation(_Message):
    automation_id: str
    new_id: str
    new_name: str | None = None
    now: datetime


class ImportAutomation(_Message):
    """A whole exported definition, exit conditions included, under an unused id."""

    automation: Automation
    now: datetime


class FinishDeletion(_Message):
    """The last learner left a finishing automation."""

    automation_id: str
    now: datetime


LifecycleCommand = Union[
    SaveAutomation,
    ActivateAutomation,
    DeactivateAutomation,
    DeleteAutomation,
    DuplicateAutomation,
    ImportAutomation,
    FinishDeletion,
]

# ---------------------------------------------------------------- events


class AutomationSaved(_Message):
    """The saved definition; `removed_step_ids`: steps the edit removed, whose
    waiting learners move on at once (ruling 11)."""

    type: Literal["automation_saved"] = "automation_saved"
    automation: Automation
    removed_step_ids: tuple[str, ...] = ()


class AutomationActivated(_Message):
    type: Literal["automation_activated"] = "automation_activated"
    automation_id: str
    at: datetime
    version: int


class AutomationDeactivated(_Message):
    type: Literal["automation_deactivated"] = "automation_deactivated"
    automation_id: str
    at: datetime
    version: int


class AutomationDeleted(_Message):
    """finishing: read-only, no new entries, removed after the last run;
    immediate: every run is cancelled (an `AutomationRemoved` follows)."""

    type: Literal["automation_deleted"] = "automation_deleted"
    automation_id: str
    mode: DeleteMode
    at: datetime
    version: int


class AutomationDuplicated(_Message):
    """An inactive copy of the triggers and the flow; `note` says what was not copied."""

    type: Literal["automation_duplicated"] = "automation_duplicated"
    source_id: str
    automation: Automation
    note: str | None = None


class AutomationImported(_Message):
    type: Literal["automation_imported"] = "automation_imported"
    automation: Automation


class AutomationRemoved(_Message):
    """Gone for good: its id is never used again."""

    type: Literal["automation_removed"] = "automation_removed"
    automation_id: str
    at: datetime


LifecycleEvent = Annotated[
    Union[
        AutomationSaved,
        AutomationActivated,
        AutomationDeactivated,
        AutomationDeleted,
        AutomationDuplicated,
        AutomationImported,
        AutomationRemoved,
    ],
    Field(discriminator="type"),
]


class Rejected(_Message):
    reason: str
    problems: tuple[Problem, ...] = ()


class DefinitionsState(_Message):
    automations: dict[str, Automation] = {}
    deleted: frozenset[str] = frozenset()


# ---------------------------------------------------------------- the transition table

# "unsaved": an id never saved; "deleted": an id removed for good.
Standing = Literal["unsaved", "inactive", "active", "finishing", "deleted"]

ALLOWED: dict[type, frozenset[str]] = {
    SaveAutomation: frozenset({"unsaved", "inactive", "active"}),
    ImportAutomation: frozenset({"unsaved"}),
    ActivateAutomation: frozenset({"inactive"}),
    DeactivateAutomation: frozenset({"active"}),
    DeleteAutomation: frozenset({"inactive", "active", "finishing"}),
    # Read-only forbids changing a finishing automation, not copying it.
    DuplicateAutomation: frozenset({"inactive", "active", "finishing"}),
    FinishDeletion: frozenset({"finishing"}),
}

VERBS = {
    SaveAutomation: "save",
    ImportAutomation: "import",
    ActivateAutomation: "activate",
    DeactivateAutomation: "deactivate",
    DeleteAutomation: "delete",
    DuplicateAutomation: "duplicate",
    FinishDeletion: "finish deleting",
}

STANDING_WORDS = {
    "unsaved": "it has never been saved",
    "inactive": "it is inactive",
    "active": "it is already active",
    "finishing": "it is finishing, and read-only until its last learner leaves",
    "deleted": "it was deleted",
}


def standing(state: DefinitionsState, automation_id: str) -> Standing:
    if automation_id in state.deleted:
        return "deleted"
    automation = state.automations.get(automation_id)
    return automation.status if automation else "unsaved"


# ---------------------------------------------------------------- decide


def decide(command: LifecycleCommand, state: DefinitionsState) -> list | Rejected:
    """The events a command becomes, or why it is refused; never raises on bad input."""
    target = command.automation.id if hasattr(command, "automation") else command.automation_id
    now_standing = standing(state, target)
    if now_standing not in ALLOWED[type(command)]:
        return Rejected(reason=_illegal(command, target, now_standing))
    current = state.automations.get(target)
    handler = _HANDLERS[type(command)]
    return handler(command, state, current)


def _illegal(command: LifecycleCommand, target: str, now_standing: Standing) -> str:
    if isinstance(command, ImportAutomation) and now_standing != "deleted":
        return (
            f"cannot import automation '{target}': that id is already in use; save over it "
            "instead, or change the id in the file."
        )
    return f"cannot {VERBS[type(command)]} automation '{target}': {STANDING_WORDS[now_standing]}."


def _save(command: SaveAutomation, state: DefinitionsState, current: Automation | None):
    automation = command.automation
    refusal = _ownership(automation, current) or _ids_missing(automation)
    if refusal:
        return refusal
    problems = validate_automation(automation)
    if current is not None and current.activated_at is not None and problems:
        # Learners inside an active or deactivated automation go on through its current
        # steps (ruling 11): an invalid step would fail them silently.
        state_now = "is active" if current.status == "active" else "has been active (learners may still be inside)"
        return Rejected(
            reason=f"automation '{automation.id}' {state_now}, so this edit cannot be saved over "
            f"it with {_count(problems)}; fix them first.",
            problems=tuple(problems),
        )
    saved = automation.model_copy(
        update={
            "status": current.status if current else "inactive",
            "version": (current.version if current else 0) + 1,
            "last_edited_at": command.now,
            "activated_at": current.activated_at if current else None,
        }
    )
    removed = sorted(removed_step_ids(current, saved)) if current else []
    return [AutomationSaved(automation=saved, removed_step_ids=tuple(removed))]


def _import(command: ImportAutomation, state: DefinitionsState, current: Automation | None):
    refusal = _ids_missing(command.automation)
    if refusal:
        return refusal
    return [AutomationImported(automation=_fresh(command.automation, command.now))]


def _activate(command: ActivateAutomation, state: DefinitionsState, current: Automation):
    problems = validate_automation(current)
    if problems:
        return Rejected(
            reason=f"automation '{current.id}' cannot be activated until {_count(problems)} "
            "are fixed.",
            problems=tuple(problems),
        )
    return [AutomationActivated(automation_id=current.id, at=command.now, version=current.version + 1)]


def _deactivate(command: DeactivateAutomation, state: DefinitionsState, current: Automation):
    return [
        AutomationDeactivated(automation_id=current.id, at=command.now, version=current.version + 1)
    ]


def _delete(command: DeleteAutomation, state: DefinitionsState, current: Automation):
    if current.status == "finishing" and command.mode != "immediate":
        return Rejected(
            reason=f"automation '{current.id}' is already finishing; only an immediate delete "
            "(removing the learners still inside) can follow."
        )
    if command.has_learners_inside and command.mode is None:
        return Rejected(
            reason=f"learners are inside automation '{current.id}': choose finishing (let them "
            "complete) or immediate (remove them and cancel their pending steps)."
        )
    mode = command.mode or "immediate"
    deleted = AutomationDeleted(
        automation_id=current.id, mode=mode, at=command.now, version=current.version + 1
    )
    if mode == "finishing" and command.has_learners_inside:
        return [deleted]
    return [deleted, AutomationRemoved(automation_id=current.id, at=command.now)]


def _duplicate(command: DuplicateAutomation, state: DefinitionsState, current: Automation):
    unfit = id_problem("the new id", command.new_id)
    if unfit:
        return Rejected(reason=f"cannot duplicate into it: {unfit}.")
    taken = standing(state, command.new_id)
    if taken != "unsaved":
        return Rejected(
            reason=f"cannot duplicate into '{command.new_id}': that id "
            + ("was used by a deleted automation." if taken == "deleted" else "is already taken.")
        )
    copy = current.model_copy(
        update={"id": command.new_id, "name": command.new_name or f"{current.name} (copy)", "exits": []}
    )
    note = None
    if current.exits:
        note = (
            f"{len(current.exits)} exit condition(s) of '{current.id}' were not copied: exit "
            "conditions cannot be copied or duplicated. Add them to the copy if it needs them."
        )
    return [AutomationDuplicated(source_id=current.id, automation=_fresh(copy, command.now), note=note)]


def _finish(command: FinishDeletion, state: DefinitionsState, current: Automation):
    return [AutomationRemoved(automation_id=current.id, at=command.now)]


_HANDLERS = {
    SaveAutomation: _save,
    ImportAutomation: _import,
    ActivateAutomation: _activate,
    DeactivateAutomation: _deactivate,
    DeleteAutomation: _delete,
    DuplicateAutomation: _duplicate,
    FinishDeletion: _finish,
}


def _fresh(automation: Automation, now: datetime) -> Automation:
    """A new definition's lifecycle fields, whatever the file said."""
    return automation.model_copy(
        update={"status": "inactive", "version": 1, "last_edited_at": now, "activated_at": None}
    )


def _ownership(automation: Automation, current: Automation | None) -> Rejected | None:
    if current is not None and current.school != automation.school:
        return Rejected(
            reason=f"the id '{automation.id}' belongs to another school's automation; "
            "choose another id."
        )
    return None


def _ids_missing(automation: Automation) -> Rejected | None:
    missing = [path for path, item in _identified(automation) if not item.id]
    if missing:
        return Rejected(
            reason="every trigger, step and exit condition needs an id before it is saved "
            f"(missing at {', '.join(missing)})."
        )
    # Ids become Kafka keys and URL paths: one that is not an id is never saved. (A blank
    # automation id or school is saved inactive, with its problem, as before.)
    named = [("the automation id", automation.id), ("the school id", automation.school)]
    named += [(f"the id at {path}", item.id) for path, item in _identified(automation)]
    unfit = [id_problem(what, value) for what, value in named if value.strip() and not is_id(value)]
    if unfit:
        return Rejected(reason=f"{unfit[0]}." + (f" ({len(unfit) - 1} more such id(s).)" if len(unfit) > 1 else ""))
    return None


def _identified(automation: Automation):
    yield from ((f"triggers[{i}]", t) for i, t in enumerate(automation.triggers))
    yield from iter_steps(automation.flow)
    yield from ((f"exits[{i}]", e) for i, e in enumerate(automation.exits))


def _count(problems: list[Problem]) -> str:
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


# ---------------------------------------------------------------- evolve


def evolve(state: DefinitionsState, event: LifecycleEvent) -> DefinitionsState:
    """The state after one event. Events about unknown ids change nothing."""
    if isinstance(event, (AutomationSaved, AutomationImported, AutomationDuplicated)):
        return _put(state, event.automation)
    if isinstance(event, AutomationRemoved):
        remaining = {k: v for k, v in state.automations.items() if k != event.automation_id}
        return DefinitionsState(automations=remaining, deleted=state.deleted | {event.automation_id})
    current = state.automations.get(event.automation_id)
    if current is None:
        return state
    if isinstance(event, AutomationActivated):
        return _put(
            state,
            current.model_copy(
                update={"status": "active", "activated_at": event.at, "version": event.version}
            ),
        )
    if isinstance(event, AutomationDeactivated):
        return _put(state, current.model_copy(update={"status": "inactive", "version": event.version}))
    if isinstance(event, AutomationDeleted):
        # Finishing: read-only until the last run ends. Immediate: removed next, but the
        # version moves now, so workers waiting for it have seen the delete.
        status = "finishing" if event.mode == "finishing" else current.status
        return _put(state, current.model_copy(update={"status": status, "version": event.version}))
    return state


def _put(state: DefinitionsState, automation: Automation) -> DefinitionsState:
    return state.model_copy(update={"automations": {**state.automations, automation.id: automation}})


def removed_step_ids(old: Automation, new: Automation) -> set[str]:
    """Ids of steps in `old` that `new` no longer has (learners waiting there move on)."""
    kept = {step.id for _, step in iter_steps(new.flow)}
    return {step.id for _, step in iter_steps(old.flow) if step.id and step.id not in kept}
