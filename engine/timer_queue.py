"""The simulator's pending timers, and the order in which they fire.

Owns the timer-order ruling as `simulate` keeps it (docs/engine.md, Timer
order): timers fire in due order, and timers due at the same instant fire
in the order they were scheduled. The live worker's due-time index orders
one learner's timers the same way; since a learner's timers only ever meet
each other (every input concerns one learner), that is the order that can
change what happens.

What counts as "the same instant" and as "scheduled" follows the delay
topic, where a timer is named by its id and its due time in milliseconds
(Avro keeps milliseconds):

- timers due within the same millisecond are due at the same instant;
- a timer scheduled again under the same id and due the same millisecond,
  while pending, keeps its first position (only what it carries changes):
  it is the same schedule;
- scheduled under the same id at another due time, or again after it was
  cancelled or fired, it is a new schedule and takes a new position;
- a cancellation names a schedule by id and due time, and one that names
  another due time than the pending one cancels nothing.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta, timezone
from typing import Iterator

from engine.commands import Timer

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)


def due_millis(due_at: datetime) -> int:
    """The due instant as the delay topic carries it: whole milliseconds since 1970."""
    return (due_at - _EPOCH) // _MILLISECOND


class TimerQueue:
    """Pending timers by id, popped in (due millisecond, scheduling sequence) order."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[Timer, int]] = {}  # id -> (timer, its schedule's sequence)
        # (due ms, tie-break, sequence, id); an entry whose sequence is no longer its id's
        # pending one is a schedule replaced, cancelled or fired since, skipped when it surfaces.
        self._heap: list[tuple[int, object, int, str]] = []
        self._scheduled = 0

    def __len__(self) -> int:
        return len(self._pending)

    def __iter__(self) -> Iterator[str]:
        return iter(self._pending)

    def __contains__(self, timer_id: object) -> bool:
        return timer_id in self._pending

    def schedule(self, timer: Timer) -> None:
        due = due_millis(timer.due_at)
        pending = self._pending.get(timer.id)
        if pending is not None and due_millis(pending[0].due_at) == due:
            self._pending[timer.id] = (timer, pending[1])  # the same schedule: same place
            return
        self._scheduled += 1
        self._pending[timer.id] = (timer, self._scheduled)
        heapq.heappush(self._heap, (due, self._tie_break(timer, self._scheduled), self._scheduled, timer.id))

    def _tie_break(self, timer: Timer, sequence: int) -> object:
        """Where a timer stands among those due the same instant: the ruling's scheduling order."""
        return sequence

    def cancel(self, timer_id: str, due_at: datetime) -> None:
        pending = self._pending.get(timer_id)
        if pending is not None and due_millis(pending[0].due_at) == due_millis(due_at):
            del self._pending[timer_id]

    def pop_due(self, limit: datetime | None, inclusive: bool) -> Timer | None:
        """The next timer due before `limit` (or at it, when inclusive), taken out; else None.
        Without a limit, the next timer whatever its due time."""
        limit_ms = None if limit is None else due_millis(limit)
        while self._heap:
            due, _, sequence, timer_id = self._heap[0]
            pending = self._pending.get(timer_id)
            if pending is None or pending[1] != sequence:
                heapq.heappop(self._heap)
                continue
            if limit_ms is not None and (due > limit_ms or (due == limit_ms and not inclusive)):
                return None
            heapq.heappop(self._heap)
            del self._pending[timer_id]
            return pending[0]
        return None
