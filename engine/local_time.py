"""Local wall-clock time in IANA zones: the timezone helpers behind engine.waits.

Owns loading a zone, reading the wall clock at an instant, and turning a local
wall time back into an instant by DESIGN.md ruling 8: a wall time that falls in
a DST gap moves forward by the gap (02:30 on Europe/Berlin's spring-forward
night is 03:30 CEST), an ambiguous one takes its first occurrence.

Zones come from the pinned `tzdata` package, never the host's
/usr/share/zoneinfo: every worker, and a replay a year from now, must resolve a
wait to the same instant, which they would not if each read whatever tz rules
its operating system happens to ship. The zone files are static package data,
read once and cached; nothing here reads a clock.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

UTC = timezone.utc

_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


@lru_cache(maxsize=1)
def _pinned_keys() -> frozenset[str]:
    listing = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in listing.splitlines() if line.strip())


@lru_cache(maxsize=None)
def _load(key: str) -> ZoneInfo:
    path = resources.files("tzdata.zoneinfo")
    for part in key.split("/"):
        path = path.joinpath(part)
    with path.open("rb") as data:
        return ZoneInfo.from_file(data, key=key)


def load_zone(key: object) -> ZoneInfo | None:
    """The IANA zone named `key` from the pinned tzdata, or None when there is none.

    Only names listed by tzdata are opened, so a hostile key ("../etc") is just
    an unknown zone.
    """
    if not isinstance(key, str) or key not in _pinned_keys():
        return None
    return _load(key)


def wall_clock(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local date-time a clock in `zone` shows at `instant`."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive local wall time in `zone` names, by ruling 8.

    With fold=0 zoneinfo reads a wall time with the offset in force before the
    transition. In a gap that lands the gap's length later on the clock (the
    forward move ruling 8 asks for); in an overlap it is the first occurrence.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def add_local_days(instant: datetime, days: int, zone: ZoneInfo) -> datetime:
    """`instant` plus whole calendar days on the zone's wall clock, keeping the wall time.

    No days is the instant itself: read back from its wall time, an instant in the
    second pass of a repeated hour would become the first, an hour earlier."""
    if days == 0:
        return instant.astimezone(UTC)
    if zone.key == "UTC":
        # The default zone of every wait has no DST, so a calendar day is 24 hours;
        # adding them directly skips two datetime.replace calls (a fifth of a wait's cost).
        return instant.astimezone(UTC) + timedelta(days=days)
    return to_instant(wall_clock(instant, zone) + timedelta(days=days), zone)


def same_date_in_year(wall: datetime, year: int) -> datetime:
    """The same month, day and time in `year`; Feb 29 is Feb 28 in a common year."""
    if (wall.month, wall.day) == (2, 29) and not calendar.isleap(year):
        return wall.replace(year=year, day=28)
    return wall.replace(year=year)


def parse_clock(text: object) -> time | None:
    """"HH:MM" (24-hour, "9:05" allowed) as a time of day, or None."""
    if not isinstance(text, str):
        return None
    match = _CLOCK.fullmatch(text.strip())
    return time(int(match[1]), int(match[2])) if match else None


def parse_iso(text: str) -> datetime | None:
    """An ISO 8601 date or date-time, as written: naive unless it carries an offset.

    A date alone comes back as its midnight, which is what ruling 8 makes of a
    date-only field.
    """
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None
