"""Applying one engine command to one learner, durably and replay-safely.

Owns the read-decide-write-send cycle the learner agent runs for every input:
load the learner's entry from the learners table, call `engine.decider.handle`
with this worker's catalog and clock, store the new state together with the
encoded outputs of this input, then send the outputs. When the input was
already applied (a re-delivery after a crash), the stored outputs are sent
again instead of deciding anew; see `processors.learner_store`.
"""

from __future__ import annotations

import asyncio
from typing import Iterable

from engine.commands import FireTimer
from engine.decider import handle
from processors import learner_store
from processors.app import (
    actions_topic,
    automation_runs_topic,
    clock,
    dead_letter_topic,
    delays_topic,
    learners_table,
    run_status_topic,
)
from processors.definitions_table import definitions
from processors.records import automation_runs_key, output_records, timer_record
from schemas.codec import encode

_TOPICS = {
    "actions": actions_topic,
    "delays": delays_topic,
    "run_status": run_status_topic,
    "dead_letter": dead_letter_topic,
    "automation_runs": automation_runs_topic,
}


def rejection_record(reason: str, input_id: str, key: str) -> bytes:
    topic, partition, offset = input_id.rsplit("/", 2)
    return encode(
        "dead_letter",
        {
            "reason": f"rejected: {reason}",
            "source_topic": topic,
            "partition": int(partition),
            "offset": int(offset),
            "key": key,
            "value": b"",
            "received_at": clock.now(),
        },
    )


def decide_outputs(entry: learner_store.LearnerEntry, command, input_id: str):
    """Run the engine; returns the new state and the encoded outputs of this input."""
    now = clock.now()
    outcome = handle(command, entry.state, definitions.catalog, now)
    school, user = entry.state.school, entry.state.user
    outputs = output_records(outcome.events, school, user)
    if isinstance(command, FireTimer):
        # The acknowledgement that removes the timer from the due index.
        outputs.append(("delays", timer_record("fired", command.timer, fired_at=now)))
    if outcome.rejected is not None:
        outputs.append(("dead_letter", rejection_record(outcome.rejected.reason, input_id, entry.state.key)))
    return outcome.state, outputs


async def send_outputs(key: bytes, outputs: Iterable[tuple[str, bytes]]) -> list[asyncio.Future]:
    """Send in order, under the learner's key but for automation-runs records; returns
    the sends, each done once the broker has the record."""
    return [
        await _TOPICS[audience].send(key=automation_runs_key(value) if audience == "automation_runs" else key, value=value)
        for audience, value in outputs
    ]


async def process(school: str, user: str, command, input_id: str) -> tuple[list[tuple[str, bytes]], list[asyncio.Future]]:
    """Apply `command` to the learner `school:user`; returns what was sent, and the sends."""
    key = f"{school}:{user}".encode()
    stored = learners_table.get(key)
    entry = learner_store.load(stored, school, user)
    outputs = entry.outputs_of(input_id)
    if outputs is None:
        entry.state, outputs = decide_outputs(entry, command, input_id)
        entry.remember(input_id, outputs)
        learners_table[key] = learner_store.dump(entry)
    else:
        # A re-delivery: the local store has this input's effects, but the crash may
        # have lost their changelog record, and a worker that takes the partition
        # over rebuilds from the changelog alone. Writing the entry again puts it there.
        learners_table[key] = stored
    return outputs, await send_outputs(key, outputs)
