"""Applying one engine command to one learner, durably and replay-safely.

Owns the read-decide-write-send cycle the learner agent runs for every input:
load the learner's entry from the learners table, call `engine.decider.handle`
with this worker's catalog and clock, store the new state together with the
encoded outputs of this input, then send the outputs. When the input was
already applied (a re-delivery after a crash), the stored outputs are sent
again instead of deciding anew; an older input the learner has already
decided (an operator reprocessing from far back) decides nothing and sends
nothing. See `processors.learner_store`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from engine.commands import FireTimer
from engine.decider import handle
from processors import learner_store, metrics
from processors.app import app, clock, learners_table, topics
from processors.definitions_table import definitions
from processors.records import automation_runs_key, output_records, timer_record
from schemas.codec import encode

log = logging.getLogger(__name__)
_SKIPS_LOGGED_EVERY = 1_000
_skipped = 0

_TOPICS = {
    "actions": topics.actions,
    "delays": topics.delays,
    "run_status": topics.run_status,
    "dead_letter": topics.dead_letter,
    "automation_runs": topics.automation_runs,
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
        metrics.count("automations_dead_letters_total", source_topic=input_id.rsplit("/", 2)[0])
    return outcome.state, outputs


async def send_outputs(key: bytes, outputs: Iterable[tuple[str, bytes]]) -> list[asyncio.Future]:
    """Send in order, under the learner's key but for automation-runs records; returns
    the sends, each done once the broker has the record.

    Straight to the app's producer: Faust's `Topic.send` wraps every record in a
    message future, callbacks and sensor calls these raw records do not need
    (about 40% of what a send cost the worker)."""
    send = app.producer.send
    return [
        await send(_TOPICS[audience], automation_runs_key(value) if audience == "automation_runs" else key, value,
                   partition=None, timestamp=None, headers=None)
        for audience, value in outputs
    ]


def input_timestamp_ms(message) -> int | None:
    """The Kafka timestamp of a Faust message or a `ReadAgain` (seconds, as Faust gives it), in ms."""
    timestamp = getattr(message, "timestamp", None)
    return round(timestamp * 1000) if timestamp is not None and timestamp >= 0 else None


def _skipped_as_decided(input_id: str) -> None:
    global _skipped
    _skipped += 1
    metrics.count("automations_inputs_decided_before_total")
    if _skipped % _SKIPS_LOGGED_EVERY == 1:
        log.info("%s was decided before (reprocessing): nothing decided or sent again; %d such inputs so far",
                 input_id, _skipped)


async def process(
    school: str, user: str, command, input_id: str, timestamp_ms: int | None = None, acknowledged: bool = False,
    recorded: Callable[[str, int], int | None] | None = None,
) -> tuple[list[tuple[str, bytes]] | None, list[asyncio.Future]]:
    """Apply `command` to the learner `school:user`; returns what was sent (None: nothing,
    the input was handled before), and the sends. `timestamp_ms` is the input's Kafka
    timestamp (see `learner_store.DecidedMarks`); `acknowledged`: the input sits before
    its partition's recorded position, so the broker has its outputs and changelog;
    `recorded(topic, partition)`: that position, to forget outputs no longer needed."""
    key = f"{school}:{user}".encode()
    stored = learners_table.get(key)
    entry = learner_store.load(stored, school, user)
    outputs = entry.outputs_of(input_id)
    if outputs is not None and acknowledged:
        # Delivered again from a committed offset that lagged the record: what it sent
        # is known to be in Kafka, so sending it again would only make duplicates.
        metrics.count("automations_inputs_acknowledged_before_total")
        return None, []
    if outputs is None:
        if entry.marks.decided_before(input_id, timestamp_ms):
            _skipped_as_decided(input_id)
            return None, []
        entry.state, outputs = decide_outputs(entry, command, input_id)
        if recorded is not None:
            entry.forget_recorded(recorded)
        entry.remember(input_id, outputs)
        entry.marks.decided(input_id, timestamp_ms)
        learners_table[key] = learner_store.dump(entry)
    else:
        # A re-delivery: the local store has this input's effects, but the crash may
        # have lost their changelog record, and a worker that takes the partition
        # over rebuilds from the changelog alone. Writing the entry again puts it there.
        learners_table[key] = stored
    return outputs, await send_outputs(key, outputs)
