"""Firing due timers, in bounded passes that never stall live events.

Every `FIRING_INTERVAL` seconds one pass walks the due-time index of this
worker's active partitions in RocksDB key order (= due order), stops at the
first timer not yet due, and sends at most `MAX_PER_PASS` fired timers to the
fired-timers topic, yielding to the event loop as it goes. After downtime,
overdue timers therefore fire at once and in due order.

A fired timer stays in the index until the learner processor acknowledges it
(a `fired` record on the delay topic). Until then it is not sent again, unless
the acknowledgement is overdue (a crash between send and handling), in which
case it is re-sent: the learner processor treats a stale timer as a no-op.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timezone
from typing import Iterator

from processors.app import app, clock, fired_timers_topic, timer_index_table
from schemas.codec import DecodeError, decode, encode

FIRING_INTERVAL = float(os.environ.get("AUTOMATIONS_TIMER_INTERVAL", "0.2"))
MAX_PER_PASS = int(os.environ.get("AUTOMATIONS_TIMER_BATCH", "2000"))
RESEND_AFTER_SECONDS = 30.0

# due-index key -> monotonic time it was sent. Keyed by schedule, not timer id: a
# timer re-armed under the same id is a new schedule and fires when it is due.
_sent: dict[bytes, float] = {}


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


def _resend_due(key: bytes, monotonic_now: float) -> bool:
    sent_at = _sent.get(key)
    return sent_at is None or monotonic_now - sent_at > RESEND_AFTER_SECONDS


def _next_batch(now_key: bytes, monotonic_now: float) -> list[tuple[bytes, bytes]]:
    """Up to MAX_PER_PASS due (key, timer) pairs not already awaiting acknowledgement."""
    batch: list[tuple[bytes, bytes]] = []
    for key, value in _due_entries(now_key):
        if _resend_due(key, monotonic_now):
            batch.append((key, value))
            if len(batch) >= MAX_PER_PASS:
                break
    return batch


@app.timer(interval=FIRING_INTERVAL)
async def fire_due_timers() -> None:
    now = clock.now()
    now_key = f"{int(now.timestamp() * 1000):015d}|\xff".encode()
    monotonic_now = time.monotonic()
    for count, (key, value) in enumerate(_next_batch(now_key, monotonic_now), start=1):
        try:
            record = decode("timer", value)
        except DecodeError:
            continue  # the timer agent dead-letters undecodable input before indexing
        record.update(op="fired", fired_at=now.astimezone(timezone.utc))
        await fired_timers_topic.send(
            key=f"{record['school']}:{record['user']}".encode(), value=encode("timer", record)
        )
        _sent[key] = monotonic_now
        if count % 100 == 0:
            await asyncio.sleep(0)
    if len(_sent) > 100_000:
        cutoff = monotonic_now - RESEND_AFTER_SECONDS
        for key in [k for k, sent_at in _sent.items() if sent_at < cutoff]:
            del _sent[key]
