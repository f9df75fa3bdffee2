"""Which fired timers are in flight: sent, not yet acknowledged, not yet overdue.

The firing pass (`processors.timer_firing`) sends a due timer to the
fired-timers topic and leaves it in the due-time index until the learner
processor acknowledges it. This window is the bookkeeping between the two:
a timer in it is not sent again; its acknowledgement (the timer agent
removing the schedule from the index) takes it out; so does being overdue
(a crash between send and handling), after which a timer still in the index
is sent again. And the window is bounded: with `limit` timers in flight the
pass sends nothing more. Without that bound a burst of due timers was sent
far faster than the learner processor handles them (10,000/s against
~1,000/s): it queued in front of live events, and every timer not handled
within the overdue time was sent again, then again (100,000 due at once
became 459,000 fired-timer records, each handled, and the drain never
caught up).

Times are monotonic seconds passed in, so the window is tested without a clock.
"""

from __future__ import annotations

from collections import OrderedDict


class FiringWindow:
    def __init__(self, limit: int, overdue_after: float):
        self.limit = limit
        self.overdue_after = overdue_after
        # due-index key -> when it was sent, oldest first. Keyed by schedule, not timer
        # id: a timer re-armed under the same id is a new schedule, due when it says.
        self._sent: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sent)

    def __contains__(self, key: bytes) -> bool:
        return key in self._sent

    def room(self, now: float) -> int:
        """How many more may be sent now; forgets the overdue first."""
        cutoff = now - self.overdue_after
        while self._sent:
            key, sent_at = next(iter(self._sent.items()))
            if sent_at > cutoff:
                break
            del self._sent[key]
        return max(0, self.limit - len(self._sent))

    def sent(self, key: bytes, now: float) -> None:
        self._sent[key] = now
        self._sent.move_to_end(key)

    def acknowledged(self, key: bytes) -> None:
        self._sent.pop(key, None)
