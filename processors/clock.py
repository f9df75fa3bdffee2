"""The worker's clock: the only place a live process reads the time.

Production uses the wall clock. Tests start the worker with
AUTOMATIONS_TEST_CLOCK=1, which swaps in a clock that an HTTP endpoint can pin
or move forward, so a 3-day wait takes seconds to test. It is never the
default, and the endpoint does not exist without the flag.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class WallClock:
    controllable = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ControllableClock:
    """Wall time plus an offset, or a pinned instant. `advance` refuses to go back."""

    controllable = True

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._pinned: datetime | None = None

    def now(self) -> datetime:
        if self._pinned is not None:
            return self._pinned
        return datetime.now(timezone.utc) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the test clock never moves backwards")
        if self._pinned is not None:
            self._pinned += delta
        else:
            self._offset += delta
        return self.now()

    def pin(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise ValueError("pin needs an aware instant")
        self._pinned = instant.astimezone(timezone.utc)
        return self._pinned


def make_clock(controllable: bool, pin: str = "") -> WallClock | ControllableClock:
    """`pin` (ISO 8601, controllable clock only): start pinned there, e.g. after a restart."""
    if not controllable:
        return WallClock()
    clock = ControllableClock()
    if pin:
        clock.pin(datetime.fromisoformat(pin))
    return clock
