"""Firing due timers, in bounded passes that never stall live events.

Every `FIRING_INTERVAL` seconds one pass walks the due-time index of this
worker's active partitions in RocksDB key order (= due order), stops at the
first timer not yet due, and sends at most `MAX_PER_PASS` fired timers to the
fired-timers topic, yielding to the event loop as it goes. After downtime,
overdue timers therefore fire at once and in due order.

A fired timer stays in the index until the learner processor acknowledges it
(a `fired` record on the delay topic). Until then it is not sent again, unless
the acknowledgement is overdue (a crash between send and handling), in which
case it is re-sent: the learner processor treats a stale timer as a no-op. At
most `MAX_IN_FLIGHT` are sent and not yet acknowledged at any time
(`processors.firing_window`), so a burst goes out at the pace the learner
processor handles it, interleaved with live events.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timezone
from typing import Iterator

from processors.app import app, clock, fired_timers_topic, timer_index_table
from processors.config import env_number
from processors.firing_window import FiringWindow
from processors.periodic import every
from schemas.codec import DecodeError, decode, encode

FIRING_INTERVAL = env_number("AUTOMATIONS_TIMER_INTERVAL", "0.2", float, within=(0.001, None))
MAX_PER_PASS = env_number("AUTOMATIONS_TIMER_BATCH", "2000")
MAX_IN_FLIGHT = env_number("AUTOMATIONS_TIMER_IN_FLIGHT", "250")
RESEND_AFTER_SECONDS = 30.0

in_flight = FiringWindow(MAX_IN_FLIGHT, RESEND_AFTER_SECONDS)


def _due_entries(now_key: bytes) -> Iterator[tuple[bytes, bytes]]:
    # Faust's Table API has no ordered range scan, so we read the RocksDB
    # partitions it holds for this worker directly (read-only); writes stay in
    # the timer agent, inside stream iteration, as Faust requires.
    store = timer_index_table.data
    for db in store._dbs_for_actives():
        for key, value in db.items():
            if key > now_key:
                break
            if key[:1].isdigit():
                yield key, value


def _next_batch(now_key: bytes, room: int) -> list[tuple[bytes, bytes]]:
    """Up to `room` due (key, timer) pairs not in flight."""
    batch: list[tuple[bytes, bytes]] = []
    if room <= 0:
        return batch
    for key, value in _due_entries(now_key):
        if key not in in_flight:
            batch.append((key, value))
            if len(batch) >= room:
                break
    return batch


@every(FIRING_INTERVAL)
async def fire_due_timers() -> None:
    now = clock.now()
    now_key = f"{int(now.timestamp() * 1000):015d}|\xff".encode()
    monotonic_now = time.monotonic()
    room = min(MAX_PER_PASS, in_flight.room(monotonic_now))
    for count, (key, value) in enumerate(_next_batch(now_key, room), start=1):
        try:
            record = decode("timer", value)
        except DecodeError:
            continue  # the timer agent dead-letters undecodable input before indexing
        record.update(op="fired", fired_at=now.astimezone(timezone.utc))
        await fired_timers_topic.send(
            key=f"{record['school']}:{record['user']}".encode(), value=encode("timer", record)
        )
        in_flight.sent(key, monotonic_now)
        if count % 100 == 0:
            await asyncio.sleep(0)
