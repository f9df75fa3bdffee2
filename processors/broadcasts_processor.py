"""The broadcasts processor: definition changes that touch learners, sent to every partition.

Some changes touch learners already inside an automation (DESIGN.md: they
travel with the definitions): an immediate delete cancels their runs, an edit
that removes steps moves on those waiting there, "advance everyone waiting in
step S" does what it says, and an activation schedules inactivity checks.
This processor (one worker holds the definitions topic's one partition) turns
each such record into one control record per partition of the control topic,
in the same transaction as its offset, so a change is broadcast exactly once;
whoever owns a partition applies it there to the learners it holds
(`processors.learner_processor`). It keeps no state. A record whose
automation cannot be read goes to the dead-letter topic.
"""

from __future__ import annotations

from typing import Sequence

from engine.commands import AdvanceWaiting, ApplyDefinitionChange
from processors import metrics
from processors.config import Topics
from processors.dead_letters import dead_letter_record
from processors.definitions_table import UnreadableDefinition, automation_of
from processors.records import BROADCAST_USER, control_record
from processors.stream.contract import Emit, Input, Output
from schemas.codec import DecodeError, decode


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


class BroadcastsProcessor:
    name = ""  # no store
    may_wait = 0.0

    def __init__(self, topics: Topics, partitions: int, clock):
        self.topics = (topics.definitions,)
        self._control = topics.control
        self._dead_letter_topic = topics.dead_letter
        self._partitions = partitions
        self._clock = clock

    def process(self, partition: int, inputs: Sequence[Input], store, emit: Emit) -> None:
        for item in inputs:
            metrics.count("automations_inputs_total", topic=item.topic)
            if item.value is None:
                continue  # a compaction tombstone
            try:
                record = decode("definition", item.value)
                command = broadcast_for(record)
            except (DecodeError, UnreadableDefinition) as error:
                emit(Output(self._dead_letter_topic, item.key, dead_letter_record(item, str(error), self._clock.now())))
                metrics.count("automations_dead_letters_total", source_topic=item.topic)
                continue
            if command is None:
                continue
            school = record["school"]
            value = control_record(command, school, BROADCAST_USER, record["at"], version=record["version"])
            key = f"{school}:{BROADCAST_USER}".encode()
            for target in range(self._partitions):
                emit(Output(self._control, key, value, target))

    def punctuate(self, partition: int, store, emit: Emit, limit: int | None = None) -> int:
        return 0

    def restored(self, store, key: bytes, value: bytes | None) -> None:
        raise AssertionError("the broadcasts processor keeps no store")
