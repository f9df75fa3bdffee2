"""The definitions agent: turns definition changes into per-partition broadcasts.

Some changes touch learners already inside an automation (DESIGN.md: they
travel with the definitions): an immediate delete cancels their runs, an edit
that removes steps moves on those waiting there, "advance everyone waiting in
step S" does what it says, and an activation schedules inactivity checks. This
agent (one worker per record, thanks to the consumer group) sends each such
change once to every partition of the control topic; whoever owns a
partition applies it there to the learners it holds (`learner_agent`). A record
whose automation cannot be read goes to the dead-letter topic.
"""

from __future__ import annotations

from engine.commands import AdvanceWaiting, ApplyDefinitionChange
from processors.app import app, control_topic, definitions_topic, settings
from processors.dead_letters import dead_letter, decode_or_dead_letter
from processors.definitions_table import UnreadableDefinition, automation_of
from processors.records import BROADCAST_USER, control_record


def _has_inactivity_trigger(record: dict) -> bool:
    automation = automation_of(record)
    return automation is not None and any(t.event == "user.inactive" for t in automation.triggers)


def broadcast_for(record: dict):
    """The learner-level command a definitions record implies, if any."""
    automation_id, event = record["automation_id"], record["event"]
    if event == "activated" and _has_inactivity_trigger(record):
        return ApplyDefinitionChange(automation_id=automation_id, change="activated")
    if event == "deleted" and record.get("mode") == "immediate":
        return ApplyDefinitionChange(automation_id=automation_id, change="deleted_immediate")
    if event == "saved" and record.get("removed_step_ids"):
        return ApplyDefinitionChange(
            automation_id=automation_id,
            change="saved",
            removed_step_ids=tuple(record["removed_step_ids"]),
        )
    if event == "steps_advanced" and record.get("step_id"):
        return AdvanceWaiting(
            automation_id=automation_id,
            step_id=record["step_id"],
            command_id=f"{automation_id}:{record['step_id']}:{record['at'].isoformat()}",
        )
    return None


@app.agent(definitions_topic, concurrency=1)
async def definition_changes(stream):
    async for event in stream.events():
        record = await decode_or_dead_letter("definition", event)
        if record is None:
            continue
        try:
            command = broadcast_for(record)
        except UnreadableDefinition as error:
            await dead_letter(event.message, str(error))
            continue
        if command is None:
            continue
        school = record["school"]
        value = control_record(command, school, BROADCAST_USER, record["at"], version=record["version"])
        for partition in range(settings.partitions):
            await control_topic.send(key=f"{school}:{BROADCAST_USER}".encode(), value=value, partition=partition)
