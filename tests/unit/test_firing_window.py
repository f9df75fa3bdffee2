"""The fired-timer window: bounded, acknowledged, overdue timers sent again.

Given a window of a few timers in flight; when timers are sent, acknowledged,
or left unacknowledged past the overdue time; then the room to send more, and
which timers count as in flight, follow.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.firing_window import FiringWindow


def test_a_full_window_sends_nothing_more_until_acknowledgements_come():
    window = FiringWindow(limit=3, overdue_after=30)
    for key in (b"a", b"b", b"c"):
        window.sent(key, now=0)
    assert window.room(now=1) == 0
    window.acknowledged(b"b")
    assert window.room(now=1) == 1
    assert b"b" not in window and b"a" in window


def test_an_overdue_timer_leaves_the_window_so_it_is_sent_again():
    window = FiringWindow(limit=2, overdue_after=30)
    window.sent(b"a", now=0)
    window.sent(b"b", now=20)
    assert window.room(now=30) == 1 and b"a" not in window and b"b" in window
    window.sent(b"a", now=30)  # sent again: in flight anew, now the newest
    assert window.room(now=50) == 1 and b"b" not in window and b"a" in window


def test_an_acknowledgement_of_a_timer_not_in_flight_changes_nothing():
    window = FiringWindow(limit=2, overdue_after=30)
    window.sent(b"a", now=0)
    window.acknowledged(b"zzz")
    assert len(window) == 1 and window.room(now=0) == 1


@given(st.lists(st.tuples(st.sampled_from(["send", "ack", "tick"]), st.integers(0, 9), st.integers(0, 40)), max_size=80))
def test_the_window_never_holds_more_than_it_was_given_or_anything_overdue(steps):
    window = FiringWindow(limit=5, overdue_after=30)
    now = 0
    model: dict[bytes, int] = {}
    for action, n, dt in steps:
        now += dt
        key = str(n).encode()
        if action == "send" and window.room(now) > 0 and key not in window:
            window.sent(key, now)
            model[key] = now
        elif action == "ack":
            window.acknowledged(key)
            model.pop(key, None)
        room = window.room(now)
        model = {k: t for k, t in model.items() if t > now - 30}
        assert {k for k in model} == {k for k in map(lambda i: str(i).encode(), range(10)) if k in window}
        assert room == 5 - len(model) and len(window) <= 5
