"""The worker's test clock can start pinned, so a restarted test worker keeps the test's time."""

from datetime import datetime, timedelta, timezone

import pytest

from processors.clock import make_clock


def test_a_controllable_clock_starts_pinned_where_it_is_told_and_moves_only_forward():
    clock = make_clock(True, "2027-03-01T09:00:00+02:00")

    assert clock.now() == datetime(2027, 3, 1, 7, tzinfo=timezone.utc)
    assert clock.advance(timedelta(days=2)) == datetime(2027, 3, 3, 7, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))


def test_without_a_pin_the_test_clock_follows_the_wall_and_production_ignores_the_pin():
    before = datetime.now(timezone.utc)
    assert make_clock(True, "").now() >= before
    assert make_clock(False, "2027-03-01T09:00:00+00:00").now() >= before
