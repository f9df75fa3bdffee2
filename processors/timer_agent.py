"""The timer agent: keeps the due-time index of this worker's partitions.

It reads the delay topic. `scheduled` adds a timer to the index (replacing
an earlier schedule of the same id), `cancelled` and `fired` (the learner
processor's acknowledgement that it handled a fired timer) remove the
schedule they name, the same id due at the same time. Every record is
applied, in order, even those Faust skips after a restart, and counts as
done once the index's changelogs have its changes
(`processors.input_positions`). Firing itself is `processors.timer_firing`'s
job: Faust only lets a table change inside stream iteration, so the index is
changed here and only read there.
"""

from __future__ import annotations

from datetime import datetime, timezone

from processors.app import app, delays_topic, settings, timer_ids_table, timer_index_table
from processors.dead_letters import dead_letter, decode_or_dead_letter
from processors.input_positions import InputPositions
from processors.timer_firing import in_flight


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def due_key(due_at: datetime, timer_id: str) -> bytes:
    """Zero-padded epoch milliseconds first, so byte order is due order."""
    millis = int(due_at.astimezone(timezone.utc).timestamp() * 1000)
    return f"{millis:015d}|{timer_id}".encode()


# In the index's own table, so its changelog holds the position after the index writes.
positions = InputPositions(timer_index_table, settings, (settings.topics.delays,), (timer_ids_table,))


@app.agent(delays_topic, concurrency=1)
async def timer_index(stream):
    async for event in stream.events():
        await positions.process(event, _index)


async def _index(event) -> list:
    """Apply one delay-topic record (a Faust event or a record read again) to the index;
    returns its sends: a dead letter's, if it was one."""
    sends: list = []
    record = await decode_or_dead_letter("timer", event, sends)
    if record is None:
        return sends
    if record["op"] == "scheduled" and record["due_at"] < EPOCH:
        # Its index key would sort outside the due range, so it would never fire.
        reason = f"timer {record['timer_id']!r} is due at {record['due_at'].isoformat()}, before 1970"
        sends.append(await dead_letter(event.message, reason))
        return sends
    timer_id = record["timer_id"].encode()
    key = due_key(record["due_at"], record["timer_id"])
    previous = timer_ids_table.get(timer_id)
    # `fired` and `cancelled` end one schedule: the one due when they say. A timer
    # re-armed under the same id (an inactivity timer that fired early) has a new
    # due time, and the acknowledgement of the old one must not remove it.
    if previous is not None and (record["op"] == "scheduled" or previous == key):
        timer_index_table.pop(previous, None)
        timer_ids_table.pop(timer_id, None)
        in_flight.acknowledged(previous)
    if record["op"] == "scheduled":
        timer_index_table[key] = event.value
        timer_ids_table[timer_id] = key
    return sends
