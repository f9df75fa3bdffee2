"""Property tests of engine.waits against an independent reference.

The reference never asks zoneinfo to turn a local wall time into an instant
(where fold and gap semantics live, and where bugs hide). It only reads the
wall clock at UTC instants and searches: the instants whose clock shows the
wall time, the first of them; or, when the clock jumps over it (a DST gap),
the instant the clock of before the jump would have shown it. Candidate days
and years are enumerated naively and the earliest one after `now` is taken.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from importlib import resources

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.definitions import (
    RunBefore,
    WaitDuration,
    WaitFieldDate,
    WaitFieldDuration,
    WaitUntilDatetime,
    WaitUntilTimeOfDay,
    WaitUntilWeekday,
)
from engine.local_time import load_zone
from engine.waits import ContinueNow, EndRun, FailRun, WaitUntil, resolve_wait

UTC = timezone.utc
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ALL_KEYS = sorted(
    line.strip()
    for line in resources.files("tzdata").joinpath("zones").read_text().splitlines()
    if line.strip()
)
# Zones with something to teach: DST both ways, half and quarter hours, a 30-minute DST
# (Lord Howe), a 2-hour DST (Troll), negative DST (Dublin), midnight transitions
# (Havana, Santiago), a skipped calendar day (Apia, 2011-12-30), and plain UTC.
TRICKY_KEYS = [
    "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
    "Australia/Lord_Howe", "Antarctica/Troll", "Europe/Dublin", "America/Havana",
    "America/Santiago", "Pacific/Apia", "Pacific/Chatham", "Asia/Kathmandu",
    "America/St_Johns", "Africa/Casablanca", "UTC",
]
QUICK = settings(max_examples=120)


# ---------------------------------------------------------------- the reference


def clock_at(instant: datetime, zone) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def ref_instant(wall: datetime, zone) -> datetime:
    """Ruling 8 by search over UTC instants within 30 hours of `wall`."""
    guess = wall.replace(tzinfo=UTC)
    grid = [guess + timedelta(minutes=15 * k) for k in range(-120, 121)]
    offsets = {instant.astimezone(zone).utcoffset() for instant in grid}
    showing = [guess - offset for offset in offsets if clock_at(guess - offset, zone) == wall]
    if showing:
        return min(showing)
    # A gap: read the offset the clock had just before it jumped over `wall`.
    offset_before = next(
        earlier.astimezone(zone).utcoffset()
        for earlier, later in zip(grid, grid[1:])
        if clock_at(earlier, zone) < wall < clock_at(later, zone)
    )
    return guess - offset_before


def in_gap(wall: datetime, zone) -> bool:
    return clock_at(ref_instant(wall, zone), zone) != wall


def moved_by_a_gap(local: datetime, clock: time, zone) -> bool:
    """`local` shows `clock` moved forward by a gap, from its own day or (Apia) the day before."""
    days = (local.date(), local.date() - timedelta(days=1))
    return any(in_gap(datetime.combine(day, clock), zone) for day in days)


def offset_swing(zone, *instants: datetime) -> timedelta:
    """How far the zone's offset moves across the instants: the DST slack of a bound."""
    offsets = [instant.astimezone(zone).utcoffset() for instant in instants]
    return max(offsets) - min(offsets)


def ref_next_wall_time(now: datetime, zone, clock: time, weekday: int | None) -> datetime:
    today = clock_at(now, zone).date()
    days = [today + timedelta(days=ahead) for ahead in range(-1, 10)]
    candidates = [
        ref_instant(datetime.combine(day, clock), zone)
        for day in days
        if weekday is None or day.weekday() == weekday
    ]
    return min(due for due in candidates if due > now)


def ref_minus(wall: datetime, before: RunBefore | None, zone) -> datetime:
    if before is None:
        return ref_instant(wall, zone)
    if before.unit == "minutes":
        return ref_instant(wall, zone) - timedelta(minutes=before.amount)
    if before.unit == "hours":
        return ref_instant(wall, zone) - timedelta(hours=before.amount)
    days = before.amount * 7 if before.unit == "weeks" else before.amount
    return ref_instant(wall - timedelta(days=days), zone)


def ref_same_day(wall: datetime, year: int) -> datetime:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    day = 28 if (wall.month, wall.day) == (2, 29) and not leap else wall.day
    return datetime(year, wall.month, day, wall.hour, wall.minute)


# ---------------------------------------------------------------- strategies

zones = st.one_of(st.sampled_from(TRICKY_KEYS), st.sampled_from(ALL_KEYS)).map(load_zone)


@lru_cache(maxsize=None)
def transitions(key: str, year: int) -> tuple[datetime, ...]:
    """The instants (to the minute) where the zone's offset changes in `year`."""
    zone = load_zone(key)
    start = datetime(year, 1, 1, tzinfo=UTC)
    days = [start + timedelta(days=k) for k in range(367)]
    found = []
    for low, high in zip(days, days[1:]):
        if low.astimezone(zone).utcoffset() != high.astimezone(zone).utcoffset():
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
    return tuple(found)


def edges(zone, year: int) -> list[datetime]:
    """The wall times at each side of the zone's transitions in `year`.

    For a spring-forward night these are the start and end of the gap (02:00 and
    03:00 in Berlin), for a fall-back night the start and end of the repeated hour.
    """
    walls = []
    for change in transitions(zone.key, year):
        just_before = clock_at(change - timedelta(minutes=1), zone) + timedelta(minutes=1)
        walls += [just_before, clock_at(change, zone)]
    return walls


units = st.sampled_from(["minutes", "hours", "days"])
offset_units = st.sampled_from(["minutes", "hours", "days", "weeks"])
nudges = st.one_of(st.sampled_from([0, 1, -1, 30, -30]), st.integers(-180, 180)).map(
    lambda minutes: timedelta(minutes=minutes)
)


@st.composite
def edge_walls(draw, zone, year: int):
    """A wall time near a transition of `year` (in a gap or a repeated hour, often), or any."""
    near = edges(zone, year)
    if not near or draw(st.booleans()):
        wall = draw(st.datetimes(datetime(year, 1, 1), datetime(year, 12, 31)))
        return wall.replace(second=0, microsecond=0)
    return draw(st.sampled_from(near)) + draw(nudges)


@st.composite
def instants(draw, zone):
    """Any instant in 2000-2040, or one within a day and a half of one of the zone's transitions."""
    anywhere = draw(
        st.datetimes(datetime(2000, 1, 1), datetime(2040, 12, 31), timezones=st.just(UTC))
    )
    nearby = transitions(zone.key, anywhere.year)
    if not nearby or draw(st.booleans()):
        return anywhere
    shift = timedelta(
        minutes=draw(st.integers(-36 * 60, 36 * 60)), seconds=draw(st.sampled_from([0, 0, 30]))
    )
    return draw(st.sampled_from(nearby)) + shift


@st.composite
def clocks(draw, zone, now):
    """A time of day: often the wall time now, or one in a gap or a repeated hour."""
    if draw(st.booleans()):
        wall = clock_at(now, zone) + draw(nudges)
    else:
        wall = draw(edge_walls(zone, now.year))
    return wall.time().replace(second=0, microsecond=0)


# ---------------------------------------------------------------- time of day and weekday


@QUICK
@given(st.data())
def test_time_of_day_is_the_earliest_qualifying_instant_after_now(data):
    zone = data.draw(zones)
    now = data.draw(instants(zone))
    clock = data.draw(clocks(zone, now))
    step = WaitUntilTimeOfDay(
        type="wait_until_time_of_day", id="w", time=f"{clock:%H:%M}", timezone=zone.key
    )

    outcome = resolve_wait(step, {}, now)

    assert isinstance(outcome, WaitUntil)
    due = outcome.due_at
    assert due == ref_next_wall_time(now, zone, clock, None)
    assert due > now
    # The slack: a DST change before the answer, or now in the repeated hour of a fall-back
    # night (whose second occurrence of the time is not taken, ruling 8).
    assert due - now <= timedelta(days=1) + offset_swing(zone, now - timedelta(days=1), now, due)
    local = clock_at(due, zone)
    assert local.time() == clock or moved_by_a_gap(local, clock, zone)
    # No first occurrence of the wall time lies between now and the answer.
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < due:
        shown = minute.astimezone(zone)
        assert not (shown.time().replace(second=0) == clock and shown.fold == 0), minute
        minute += timedelta(minutes=1)


@QUICK
@given(st.data())
def test_weekday_is_the_earliest_qualifying_instant_after_now(data):
    zone = data.draw(zones)
    now = data.draw(instants(zone))
    clock = data.draw(clocks(zone, now))
    weekday = data.draw(st.one_of(st.just(clock_at(now, zone).weekday()), st.integers(0, 6)))
    step = WaitUntilWeekday(
        type="wait_until_weekday",
        id="w",
        weekday=WEEKDAYS[weekday],
        time=f"{clock:%H:%M}",
        timezone=zone.key,
    )

    outcome = resolve_wait(step, {}, now)

    assert isinstance(outcome, WaitUntil)
    due = outcome.due_at
    assert due == ref_next_wall_time(now, zone, clock, weekday)
    assert due > now
    assert due - now <= timedelta(days=7) + offset_swing(zone, now - timedelta(days=1), now, due)
    local = clock_at(due, zone)
    if not moved_by_a_gap(local, clock, zone):
        assert (local.weekday(), local.time()) == (weekday, clock)


# ---------------------------------------------------------------- durations


@QUICK
@given(st.data())
def test_days_keep_the_wall_time_and_minutes_hours_are_elapsed(data):
    zone = data.draw(zones)
    now = data.draw(instants(zone))
    unit = data.draw(units)
    limit = {"minutes": 525600, "hours": 8760, "days": 365}[unit]
    amount = data.draw(st.one_of(st.integers(1, 3), st.integers(1, limit)))
    if unit == "days" and data.draw(st.booleans()):  # land on a gap or a repeated hour
        now = ref_instant(data.draw(edge_walls(zone, now.year)) - timedelta(days=amount), zone)
    step = WaitDuration(type="wait_duration", id="w", amount=amount, unit=unit, timezone=zone.key)

    outcome = resolve_wait(step, {}, now)

    assert isinstance(outcome, WaitUntil)
    if unit == "days":
        wall = clock_at(now, zone) + timedelta(days=amount)
        assert outcome.due_at == ref_instant(wall, zone)
        if not in_gap(wall, zone):
            assert clock_at(outcome.due_at, zone) == wall
    else:
        assert outcome.due_at - now == timedelta(**{unit: amount})


numeric_text = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.decimals(-10**6, 10**6, places=3, allow_nan=False).map(str),
)


@QUICK
@given(st.data())
def test_field_durations_read_numbers_like_the_step_does(data):
    zone = data.draw(zones)
    now = data.draw(instants(zone))
    unit = data.draw(units)
    value = data.draw(st.one_of(numeric_text, st.integers(-10**6, 10**6), st.floats(-1e6, 1e6)))
    step = WaitFieldDuration(
        type="wait_field_duration", id="w", field="n", unit=unit, timezone=zone.key
    )

    outcome = resolve_wait(step, {"n": value}, now)

    amount = float(value)
    limit = {"minutes": 525600, "hours": 8760, "days": 365}[unit]
    if amount < 0:
        assert isinstance(outcome, FailRun) and "negative" in outcome.error
        return
    if amount > limit:
        assert isinstance(outcome, FailRun) and "more than 365 days" in outcome.error
        return
    if unit == "days":
        whole = int(amount)
        # no calendar day is the instant itself, also in the second pass of a repeated hour
        calendar_days = now if whole == 0 else ref_instant(clock_at(now, zone) + timedelta(days=whole), zone)
        expected = calendar_days + timedelta(days=amount - whole)
    else:
        expected = now + timedelta(**{unit: amount})
    if expected <= now:  # zero, or too little to be a microsecond
        assert isinstance(outcome, ContinueNow)
    else:
        assert isinstance(outcome, WaitUntil) and outcome.due_at > now
        assert abs(outcome.due_at - expected) <= timedelta(microseconds=1)


@st.composite
def repeated_hour_instants(draw, zone):
    """Often an instant in the second pass of a repeated hour (after a fall-back), else any."""
    year = draw(st.integers(2000, 2040))
    second_passes = []
    for change in transitions(zone.key, year):
        before = (change - timedelta(minutes=1)).astimezone(zone).utcoffset()
        after = change.astimezone(zone).utcoffset()
        if after < before:
            second_passes.append((change, before - after))
    if not second_passes or draw(st.booleans()):
        return draw(instants(zone))
    change, length = draw(st.sampled_from(second_passes))
    return change + timedelta(seconds=draw(st.integers(0, int(length.total_seconds()) - 1)))


@QUICK
@given(st.data())
def test_less_than_a_day_from_a_field_is_that_much_time_from_now_also_in_a_repeated_hour(data):
    zone = data.draw(st.one_of(st.sampled_from(TRICKY_KEYS), st.sampled_from(ALL_KEYS)).map(load_zone))
    now = data.draw(repeated_hour_instants(zone))
    fraction = data.draw(st.decimals(min_value="0.001", max_value="0.999", places=3))
    step = WaitFieldDuration(type="wait_field_duration", id="w", field="n", unit="days", timezone=zone.key)

    outcome = resolve_wait(step, {"n": str(fraction)}, now)

    assert isinstance(outcome, WaitUntil)
    assert abs(outcome.due_at - (now + timedelta(days=float(fraction)))) <= timedelta(microseconds=1)


# ---------------------------------------------------------------- field dates


@QUICK
@given(st.data())
def test_field_dates_and_next_occurrence_match_a_year_by_year_search(data):
    zone = data.draw(zones)
    now = data.draw(instants(zone))
    around = clock_at(now, zone)
    wall = data.draw(
        st.one_of(
            st.datetimes(datetime(1950, 1, 1), datetime(2045, 12, 31)),
            st.sampled_from([datetime(2000, 2, 29), around, around + timedelta(days=365)]),
            st.integers(-1, 1).flatmap(lambda years: edge_walls(zone, around.year + years)),
        )
    ).replace(second=0, microsecond=0)
    before = data.draw(
        st.one_of(
            st.none(),
            st.builds(RunBefore, amount=st.integers(0, 60), unit=offset_units),
        )
    )
    if_passed = data.draw(st.sampled_from(["continue", "end", "next_occurrence"]))
    text = wall.date().isoformat() if wall.time() == time(0) else wall.isoformat(timespec="minutes")
    step = WaitFieldDate(
        type="wait_field_date",
        id="w",
        field="d",
        if_passed=if_passed,
        before=before,
        timezone=zone.key,
    )

    outcome = resolve_wait(step, {"d": text}, now)

    moment = ref_minus(wall, before, zone)
    if moment > now:
        if moment - now <= timedelta(days=365):
            assert outcome == WaitUntil(due_at=moment, detail=outcome.detail)
        else:
            assert isinstance(outcome, FailRun) and "more than 365 days ahead" in outcome.error
    elif if_passed == "continue":
        assert isinstance(outcome, ContinueNow)
    elif if_passed == "end":
        assert isinstance(outcome, EndRun)
    else:
        years = range(around.year - 2, around.year + 4)
        dues = (ref_minus(ref_same_day(wall, year), before, zone) for year in years)
        upcoming = min(due for due in dues if due > now)
        assert isinstance(outcome, WaitUntil)
        assert outcome.due_at == upcoming
        assert now < outcome.due_at <= now + timedelta(days=366, hours=3)


# ---------------------------------------------------------------- never raises

field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    numeric_text,
    st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)).map(datetime.isoformat),
    st.dates().map(date.isoformat),
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
)
timezone_keys = st.one_of(
    st.sampled_from(TRICKY_KEYS), st.sampled_from(ALL_KEYS), st.text(max_size=20)
)
clock_texts = st.none() | st.text(max_size=6) | st.times().map(lambda t: f"{t:%H:%M}")


def wait_steps(model, **parameters):
    kind = model.model_fields["type"].annotation.__args__[0]
    return st.builds(
        model, type=st.just(kind), id=st.just("w7"), timezone=timezone_keys, **parameters
    )


steps = st.one_of(
    wait_steps(WaitDuration, amount=st.none() | st.integers(), unit=units),
    wait_steps(
        WaitUntilDatetime,
        at=field_values.filter(lambda value: value is None or isinstance(value, str)),
        if_passed=st.sampled_from(["continue", "end"]),
    ),
    wait_steps(WaitUntilTimeOfDay, time=clock_texts),
    wait_steps(WaitUntilWeekday, weekday=st.none() | st.sampled_from(WEEKDAYS), time=clock_texts),
    wait_steps(WaitFieldDuration, field=st.just("f"), unit=units),
    wait_steps(
        WaitFieldDate,
        field=st.just("f"),
        if_passed=st.sampled_from(["continue", "end", "next_occurrence"]),
        before=st.none() | st.builds(RunBefore, amount=st.integers(), unit=offset_units),
    ),
)


@settings(max_examples=400)
@given(
    steps,
    st.dictionaries(st.sampled_from(["f", "g"]), field_values),
    st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.timezones()),
)
def test_resolve_wait_never_raises_and_errors_name_step_field_and_value(step, fields, now):
    outcome = resolve_wait(step, fields, now)

    assert isinstance(outcome, (WaitUntil, ContinueNow, EndRun, FailRun))
    if isinstance(outcome, WaitUntil):
        assert now < outcome.due_at <= now + timedelta(days=366, hours=3)
    if isinstance(outcome, FailRun):
        assert outcome.error.startswith("wait step w7: ") and "\n" not in outcome.error
        if isinstance(step, (WaitFieldDuration, WaitFieldDate)) and load_zone(step.timezone):
            assert "field 'f'" in outcome.error
            value = fields.get("f")
            if isinstance(value, str) and value.strip():
                assert repr(value)[:40] in outcome.error
            elif isinstance(value, float):
                assert repr(value) in outcome.error
