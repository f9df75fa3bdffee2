"""The definitions topic as the store behind the author's commands.

Owns the mapping between `engine.lifecycle` events and definitions records,
reading the compacted topic back into a `DefinitionsState`, and `execute`:
read the state, let the lifecycle decider decide, append the resulting
records. Each record carries the whole definition after the change, which is
what lets the topic be compacted to one record per automation.
"""

from __future__ import annotations

import json
from datetime import datetime

from engine import lifecycle as lc
from engine.definitions import Automation
from processors.config import Settings
from processors.kafka_io import produce, read_to_end
from schemas.codec import decode, encode

_EVENT_NAMES = {
    lc.AutomationSaved: "saved",
    lc.AutomationActivated: "activated",
    lc.AutomationDeactivated: "deactivated",
    lc.AutomationDeleted: "deleted",
    lc.AutomationDuplicated: "duplicated",
    lc.AutomationImported: "imported",
    lc.AutomationRemoved: "removed",
}


def _automation_id(event) -> str:
    return event.automation.id if hasattr(event, "automation") else event.automation_id


def to_record(event, after: lc.DefinitionsState, before: lc.DefinitionsState) -> tuple[str, dict]:
    """(key, definitions record) for one lifecycle event, given the state it produced."""
    automation_id = _automation_id(event)
    automation = after.automations.get(automation_id) or before.automations.get(automation_id)
    removed = isinstance(event, lc.AutomationRemoved)
    record = {
        "event": _EVENT_NAMES[type(event)],
        "automation_id": automation_id,
        "school": automation.school,
        "at": getattr(event, "at", None) or automation.last_edited_at,
        "version": automation.version + (1 if removed else 0),
        "mode": getattr(event, "mode", None),
        "automation_json": None if removed else after.automations[automation_id].model_dump_json(),
        "note": getattr(event, "note", None),
        "removed_step_ids": list(getattr(event, "removed_step_ids", ())),
    }
    return f"{automation.school}:{automation_id}", record


def fold_record(state: lc.DefinitionsState, record: dict) -> lc.DefinitionsState:
    automation_id = record["automation_id"]
    if record["event"] == "removed" or not record.get("automation_json"):
        remaining = {k: v for k, v in state.automations.items() if k != automation_id}
        return lc.DefinitionsState(automations=remaining, deleted=state.deleted | {automation_id})
    automation = Automation.model_validate(json.loads(record["automation_json"]))
    return state.model_copy(update={"automations": {**state.automations, automation_id: automation}})


async def load_state(settings: Settings) -> lc.DefinitionsState:
    state = lc.DefinitionsState()
    async for message in read_to_end(settings, settings.topics.definitions):
        state = fold_record(state, decode("definition", message.value))
    return state


# Below Kafka's default message.max.bytes (1 MiB and a few bytes of framing).
MAX_RECORD_BYTES = 1_000_000


async def append(settings: Settings, records: list[tuple[str, dict]]) -> None:
    await produce(
        settings,
        settings.topics.definitions,
        [(key, encode("definition", record)) for key, record in records],
    )


async def execute(settings: Settings, command) -> tuple[list, lc.DefinitionsState] | lc.Rejected:
    """Decide a lifecycle command against the topic's state and append its events."""
    state = await load_state(settings)
    decision = lc.decide(command, state)
    if isinstance(decision, lc.Rejected):
        return decision
    records = []
    for event in decision:
        after = lc.evolve(state, event)
        records.append(to_record(event, after, state))
        state = after
    for _, record in records:
        size = len(encode("definition", record))
        if size > MAX_RECORD_BYTES:
            return lc.Rejected(reason=f"the automation is {size:,} bytes as a definitions record, over the "
                               f"{MAX_RECORD_BYTES:,} a Kafka record holds by default; shorten its texts")
    await append(settings, records)
    return decision, state


async def advance_step(settings: Settings, automation_id: str, step_id: str, now: datetime) -> dict | str:
    """Ask every worker to move on the learners waiting in a step; the step stays."""
    state = await load_state(settings)
    automation = state.automations.get(automation_id)
    if automation is None:
        return f"no automation '{automation_id}'"
    record = {
        "event": "steps_advanced",
        "automation_id": automation_id,
        "school": automation.school,
        "at": now,
        "version": automation.version,
        "automation_json": automation.model_dump_json(),
        "step_id": step_id,
    }
    await append(settings, [(f"{automation.school}:{automation_id}", record)])
    return record
