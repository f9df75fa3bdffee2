"""Wait-time math: when a learner who reaches a wait step may go on.

Owns `resolve_wait`, which turns one of the six wait steps, the learner's
profile fields and `now` into a `WaitResolution`: wait until an instant,
continue now, end the run (fulfilled), or fail it with a one-line error that
names the step, the field and the value seen. It is pure (`now` comes in) and
never raises on any learner field value. Timezone helpers live in
engine.local_time.

Rulings (DESIGN.md ruling 8, and where the guide leaves it open):
- Minutes and hours are elapsed time. Days are calendar days on the step's
  wall clock: "wait 3 days" from Friday 09:00 Europe/Berlin ends Monday 09:00
  Berlin time even across a DST change (71 or 73 hours elapsed), because the
  guide promises the wait fires "at the exact time in the timezone you choose".
  A fractional number of days from a field ("2.5") is whole calendar days,
  then the fraction as elapsed time (+12 h).
- The 365-day limit on a duration measures the length asked for, so "365 days"
  stays allowed when a DST change makes it 365 days and an hour of elapsed time.
  For dates the limit is on the resolved instant: more than 365 days after now
  fails, exactly 365 days is allowed. A next occurrence is exempt: it is at most
  a year away by construction, and a year around a leap day is 366 days.
- A wait that comes to nothing (a field holding 0, or so little that it rounds
  to now) continues at once; a negative number fails.
- "Has passed" means at or before now, for dates, times of day and weekdays.
- Run-before offsets in minutes and hours are elapsed time; in days and weeks
  they are calendar days on the wall clock, like durations. The if-passed choice
  looks at the moment after the offset.
- A date-time field with an offset is that instant; a next occurrence of it is
  read on the step's wall clock (its local month, day and time).
- A step without its parameter (no amount, no time, no field) fails the run
  with an error saying so, rather than crashing the worker.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Callable, ClassVar, Mapping, Union

from msgspec.structs import force_setattr
from zoneinfo import ZoneInfo

from engine.definitions import (
    RunBefore,
    Wait,
    WaitDuration,
    WaitFieldDate,
    WaitFieldDuration,
    WaitUntilDatetime,
    WaitUntilTimeOfDay,
    WaitUntilWeekday,
)
from engine.local_time import (
    UTC,
    add_local_days,
    same_date_in_year,
    load_zone,
    parse_clock,
    parse_iso,
    to_instant,
    wall_clock,
)
from engine.values import Value

FieldValue = str | int | float | bool | None

MAX_AHEAD = timedelta(days=365)
_MINUTES_PER_UNIT = {"minutes": 1, "hours": 60, "days": 1440}
_MAX_AHEAD_MINUTES = 365 * 1440
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SHOWN_LENGTH = 80

# ---------------------------------------------------------------- outcomes


class WaitUntil(Value, kw_only=True, tag="wait", tag_field="kind"):
    """Hold the learner until `due_at` (UTC); `detail` says why, for the run history.

    Built with an aware instant in any offset, it holds it in UTC; a naive one is a
    programming error (the math only ever works from the aware `now`)."""

    kind: ClassVar[str] = "wait"
    due_at: datetime
    detail: str

    def __post_init__(self) -> None:
        due = self.due_at
        if due.tzinfo is not UTC:
            if due.utcoffset() is None:
                raise ValueError(f"WaitUntil needs a timezone-aware due_at, not {due.isoformat()}")
            force_setattr(self, "due_at", due.astimezone(UTC))


class ContinueNow(Value, kw_only=True, tag="continue", tag_field="kind"):
    """Go straight to the next step (the date had passed, or the wait is zero)."""

    kind: ClassVar[str] = "continue"
    reason: str


class EndRun(Value, kw_only=True, tag="end", tag_field="kind"):
    """End the run as fulfilled: the date had passed and the step says "end"."""

    kind: ClassVar[str] = "end"
    reason: str


class FailRun(Value, kw_only=True, tag="fail", tag_field="kind"):
    """Fail the run; `error` names the step, the field and the value seen."""

    kind: ClassVar[str] = "fail"
    error: str


WaitResolution = Union[WaitUntil, ContinueNow, EndRun, FailRun]  # told apart by `kind`

# ---------------------------------------------------------------- entry point


def resolve_wait(step: Wait, fields: Mapping[str, FieldValue], now: datetime) -> WaitResolution:
    """What happens to a learner who reaches `step` at `now`, given their profile `fields`."""
    if now.utcoffset() is None:
        raise ValueError("resolve_wait needs a timezone-aware `now`")
    where = f"wait step {step.id}" if step.id else "wait step (no id)"
    zone = load_zone(step.timezone)
    if zone is None:
        unknown = f"timezone {_show(step.timezone)} is not a known IANA timezone"
        return FailRun(error=f"{where}: {unknown}")
    try:
        return _RESOLVERS[type(step)](step, fields, now.astimezone(UTC), zone, where)
    except OverflowError:
        # Only reachable with dates near year 1 or 9999, or absurd offsets.
        return FailRun(error=f"{where}: {_subject(step, fields)} resolves outside the calendar")


# ---------------------------------------------------------------- the six kinds


def _duration(step: WaitDuration, fields, now: datetime, zone: ZoneInfo, where: str):
    amount = step.amount
    if amount is None:
        return FailRun(error=f"{where}: the duration has no amount")
    exact, subject = _fixed_amount(amount, step.unit)
    if amount < 0:
        return FailRun(error=f"{where}: {subject} is negative")
    return _wait_for(exact, step.unit, now, zone, where, subject, "")


@lru_cache(maxsize=4096, typed=True)
def _fixed_amount(amount: int, unit: str) -> tuple[Decimal, str]:
    """A step's amount as a Decimal and its wording: the same for every learner."""
    return Decimal(amount), f"duration {_show(amount)} {unit}"


def _field_duration(step: WaitFieldDuration, fields, now: datetime, zone: ZoneInfo, where: str):
    read = _read_field(step.field, fields, where)
    if isinstance(read, FailRun):
        return read
    value, subject = read
    expected = f"expected a number of {step.unit}, e.g. 3 or 2.5"
    amount = _as_number(value)
    if isinstance(amount, str):
        return FailRun(error=f"{where}: {subject} {amount} ({expected})")
    if amount < 0:
        return FailRun(error=f"{where}: {subject} is negative ({expected})")
    return _wait_for(amount, step.unit, now, zone, where, subject, f"{subject}: ")


def _until_datetime(step: WaitUntilDatetime, fields, now: datetime, zone: ZoneInfo, where: str):
    if not isinstance(step.at, str) or not step.at.strip():
        return FailRun(error=f"{where}: no date and time to wait for ('at' is empty)")
    subject = f"'at' = {_show(step.at)}"
    written = parse_iso(step.at)
    if written is None:
        expected = "expected e.g. 2027-05-01T09:00"
        return FailRun(error=f"{where}: {subject} is not a date and time ({expected})")
    instant, _ = _instant_and_wall(written, zone)
    detail = f"until {step.at.strip()} ({zone.key})"
    return _until(instant, step.if_passed, now, where, subject, detail)


def _time_of_day(step: WaitUntilTimeOfDay, fields, now: datetime, zone: ZoneInfo, where: str):
    clock = parse_clock(step.time)
    if clock is None:
        return _not_a_clock(step.time, where)
    due = _next_wall_time(now, zone, clock, lambda day: True)
    return _wait_until(due, f"next {clock:%H:%M} {zone.key}")


def _weekday(step: WaitUntilWeekday, fields, now: datetime, zone: ZoneInfo, where: str):
    if step.weekday not in _WEEKDAYS:
        return FailRun(error=f"{where}: weekday {_show(step.weekday)} is not a day of the week")
    clock = parse_clock(step.time)
    if clock is None:
        return _not_a_clock(step.time, where)
    weekday = _WEEKDAYS.index(step.weekday)
    due = _next_wall_time(now, zone, clock, lambda day: day.weekday() == weekday)
    return _wait_until(due, f"next {step.weekday} {clock:%H:%M} {zone.key}")


def _field_date(step: WaitFieldDate, fields, now: datetime, zone: ZoneInfo, where: str):
    read = _read_field(step.field, fields, where)
    if isinstance(read, FailRun):
        return read
    value, subject = read
    written = parse_iso(value) if isinstance(value, str) else None
    if written is None:
        return FailRun(
            error=f"{where}: {subject} is not a date (expected e.g. 2027-05-01 or 2027-05-01T09:00)"
        )
    before = step.before
    if before is not None and before.amount < 0:
        offset = f"{_show(before.amount)} {before.unit}"
        return FailRun(error=f"{where}: {subject}: the run-before offset ({offset}) is negative")
    instant, wall = _instant_and_wall(written, zone)
    due = _minus(before, instant, wall, zone)
    detail = f"{subject}{_before_text(before)}"
    if due <= now and step.if_passed == "next_occurrence":
        upcoming = _next_occurrence(wall, before, zone, now)
        if upcoming is None:
            return FailRun(error=f"{where}: {subject} has no next occurrence within the calendar")
        return _wait_until(upcoming, f"{detail}, next occurrence")
    return _until(due, step.if_passed, now, where, subject, detail)


_RESOLVERS: dict[type, Callable] = {
    WaitDuration: _duration,
    WaitFieldDuration: _field_duration,
    WaitUntilDatetime: _until_datetime,
    WaitUntilTimeOfDay: _time_of_day,
    WaitUntilWeekday: _weekday,
    WaitFieldDate: _field_date,
}

# ---------------------------------------------------------------- shared arithmetic


def _wait_until(due: datetime, detail: str) -> WaitUntil:
    """A WaitUntil for an instant the math computed from the aware `now`, in UTC."""
    return WaitUntil(due_at=due.astimezone(UTC), detail=detail)


def _wait_for(
    amount: Decimal, unit: str, now: datetime, zone: ZoneInfo, where: str, subject: str, prefix: str
):
    span = _span(amount, unit)
    if span is None:
        too_long = f"is a wait of more than 365 days (counted in {unit})"
        return FailRun(error=f"{where}: {subject} {too_long}")
    whole_days, elapsed, length = span
    due = now if whole_days is None else add_local_days(now, whole_days, zone)
    if elapsed is not None:
        due += elapsed
    if due <= now:
        return ContinueNow(reason=f"{where}: {subject} means no wait; continuing at once")
    return _wait_until(due, f"{prefix}{length} from {now.isoformat()} ({zone.key})")


@lru_cache(maxsize=4096)
def _span(amount: Decimal, unit: str) -> tuple[int | None, timedelta | None, str] | None:
    """What waiting `amount` `unit`s adds, worked out once per amount (it depends on the
    number only, so 3 and 3.0 share it): None past the 365-day limit, else the whole
    calendar days (days only), the elapsed time on top, and the wording."""
    if amount * _MINUTES_PER_UNIT[unit] > _MAX_AHEAD_MINUTES:
        return None
    if unit == "days":
        whole = int(amount)
        fraction = timedelta(days=float(amount - whole)) if amount != whole else None
        return whole, fraction, _quantity(amount, unit)
    return None, timedelta(minutes=float(amount * _MINUTES_PER_UNIT[unit])), _quantity(amount, unit)


def _until(due: datetime, if_passed: str, now: datetime, where: str, subject: str, detail: str):
    if due <= now:
        passed = f"{where}: {subject} ({due.isoformat()}) had passed at {now.isoformat()}"
        if if_passed == "end":
            return EndRun(reason=f"{passed}; the automation ends here for this learner")
        return ContinueNow(reason=f"{passed}; continuing at once")
    if due - now > MAX_AHEAD:
        too_far = f"resolves to {due.isoformat()}, more than 365 days ahead"
        return FailRun(error=f"{where}: {subject} {too_far}")
    return _wait_until(due, detail)


def _next_wall_time(now: datetime, zone: ZoneInfo, clock: time, wanted: Callable) -> datetime:
    """The first day (today included) that is `wanted` whose `clock` time is after now."""
    today = wall_clock(now, zone).date()
    days = (today + timedelta(days=ahead) for ahead in range(9))
    candidates = (to_instant(datetime.combine(day, clock), zone) for day in days if wanted(day))
    return next(due for due in candidates if due > now)


def _instant_and_wall(written: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A parsed date(-time) as (instant, local wall time on the step's clock)."""
    if written.tzinfo is None:
        return to_instant(written, zone), written
    instant = written.astimezone(UTC)
    return instant, wall_clock(instant, zone)


def _minus(before: RunBefore | None, instant: datetime, wall: datetime, zone: ZoneInfo) -> datetime:
    if before is None:
        return instant
    if before.unit in ("minutes", "hours"):
        return instant - timedelta(**{before.unit: before.amount})
    days = before.amount * (7 if before.unit == "weeks" else 1)
    return to_instant(wall - timedelta(days=days), zone)


def _next_occurrence(wall: datetime, before: RunBefore | None, zone: ZoneInfo, now: datetime):
    """The date's month, day and time in the first year whose moment (less the offset) is after now.

    That year is near the year of now + offset; DST can tip it one either way.
    """
    offset = timedelta() if before is None else timedelta(**{before.unit: before.amount})
    around = wall_clock(now + offset, zone).year
    years = range(max(1, around - 1), min(9999, around + 2) + 1)
    walls = (same_date_in_year(wall, year) for year in years)
    dues = (_minus(before, to_instant(each, zone), each, zone) for each in walls)
    return min((due for due in dues if due > now), default=None)


# ---------------------------------------------------------------- reading fields, wording


def _read_field(name: str | None, fields: Mapping[str, FieldValue], where: str):
    """(value, "field 'x' = value") for a usable field, else the FailRun saying what is wrong."""
    if not name:
        return FailRun(error=f"{where}: no profile field is chosen")
    label = f"field {_show(name)}"
    if name not in fields:
        return FailRun(error=f"{where}: {label} has no value (missing from the learner's profile)")
    value = fields[name]
    if value is None:
        return FailRun(error=f"{where}: {label} has no value (null)")
    if isinstance(value, str) and not value.strip():
        return FailRun(error=f"{where}: {label} is empty ({_show(value)})")
    return value, f"{label} = {_show(value)}"


def _as_number(value: object) -> Decimal | str:
    """The number a field holds, or what is wrong with it."""
    if isinstance(value, bool):
        return "is a yes/no value, not a number"
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(value) if math.isfinite(value) else "is not a finite number"
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return Decimal(value.strip())
    return "is not a number"


def _not_a_clock(text: object, where: str) -> FailRun:
    return FailRun(error=f"{where}: time {_show(text)} is not a time of day (expected HH:MM)")


def _subject(step: Wait, fields: Mapping[str, FieldValue]) -> str:
    if isinstance(step, (WaitFieldDuration, WaitFieldDate)):
        return f"field {_show(step.field)} = {_show(fields.get(step.field))}"
    if isinstance(step, WaitUntilDatetime):
        return f"'at' = {_show(step.at)}"
    return "the wait"


def _show(value: object) -> str:
    """A value as an administrator should see it in an error: one line, not too long."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 512:
        return "a number too large to show"
    shown = repr(value)
    return shown if len(shown) <= _SHOWN_LENGTH else shown[: _SHOWN_LENGTH - 3] + "..."


def _quantity(amount: Decimal | int, unit: str) -> str:
    number = f"{float(amount):.10g}"
    return f"{number} {unit[:-1] if number == '1' else unit}"


def _before_text(before: RunBefore | None) -> str:
    return "" if before is None else f", {_quantity(before.amount, before.unit)} before"
