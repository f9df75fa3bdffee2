"""Making Faust read a partition again when it stops short of what the agent has processed.

After a restart, faust-streaming 0.15 can leave an input partition
positioned past messages its agent never got, and then deliver nothing more
of it: `processors.input_positions` only notices a skip when a later message
arrives. Every second this check compares, for each input partition this
worker holds, the agent's progress (the next offset it expects) with the
partition's end; progress that stays short of the end for `STALL_SECONDS`
means nothing is coming, and the consumer is sought back to the record, so
the skipped messages are delivered (at-least-once: one the agent did get
after all is processed again, which the agents take as a re-delivery).

It also records what the agents handled and the broker has acknowledged
since (`InputPositions.confirm_held`), so a quiet partition's last input is
recorded too and is not processed again after a restart; and it commits the
group's offset up to that record where Faust's own commit lags behind it.
Faust commits only runs of offsets its stream delivered and acknowledged, so
a message an agent read again itself, or one Faust lost track of across a
rebalance, leaves a hole it never commits past: the partition would show a
lag that is not there, and a restart would deliver it all again.
"""

from __future__ import annotations

import logging
import time

from faust.types import TP

from processors import finishing_agent, learner_agent, timer_agent
from processors.app import app
from processors.periodic import every

log = logging.getLogger(__name__)

STALL_SECONDS = 3.0
WATCHED = (learner_agent.positions, timer_agent.positions, finishing_agent.positions)

_unchanged_since: dict[TP, tuple[int | None, float]] = {}


@every(1.0)
async def resume_stalled_inputs() -> None:
    if app.rebalancing:
        _unchanged_since.clear()
        return
    actives = app.assignor.assigned_actives()
    held = [(tp, positions) for tp in actives for positions in WATCHED if tp.topic in positions.topics]
    if not held:
        return
    for positions in WATCHED:
        positions.confirm_held({tp.partition for tp in actives if tp.topic in positions.topics})
    await _commit_recorded(held)
    ends = await app.consumer.highwaters(*(tp for tp, _ in held))
    now = time.monotonic()
    for tp, positions in held:
        record = positions.progress(tp.topic, tp.partition)
        end = ends.get(tp)
        if end is None or (record or 0) >= end:
            _unchanged_since.pop(tp, None)
            continue
        seen = _unchanged_since.get(tp)
        if seen is None or seen[0] != record:
            _unchanged_since[tp] = (record, now)
        elif now - seen[1] >= STALL_SECONDS:
            log.warning("%s/%d: nothing delivered past offset %s of %d for %.0fs; reading it again",
                        tp.topic, tp.partition, record, end, now - seen[1])
            await app.consumer.seek(tp, record or 0)
            _unchanged_since[tp] = (record, now)


async def _commit_recorded(held) -> None:
    """Commit each partition up to the agent's record: every input before it is processed,
    its outputs acknowledged by the broker (`processors.input_positions`)."""
    consumer = app.consumer
    if consumer._commit_fut is not None:  # Faust is committing; one commit at a time, try next second
        return
    behind = {}
    for tp, positions in held:
        record = positions.recorded(tp.topic, tp.partition)
        committed = consumer._committed_offset.get(tp)  # what Faust last committed for tp
        if record is not None and (committed is None or record > committed):
            behind[tp] = record
    if behind:
        await consumer._commit_offsets(behind)
