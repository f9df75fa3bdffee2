"""The school-event contract's shortcut: the common well-formed event, accepted without pydantic.

Owns `Shortcut`, which reads a raw event mapping and returns the `SchoolEvent`
the contract (`engine.school_events.parse_school_event`, the pydantic documents)
would return for it, or None when it is not sure: then the contract itself
decides, and a refusal keeps its exact reason. It accepts only what it can
tell at a glance the contract accepts unchanged: exact builtin types (no
coercion: a score of 5 or "5", a `passed` of 1, bytes for text all go to the
contract), an RFC 3339 date-time of ASCII digits, ids that fit, and payloads
whose declared fields it knows the type of, read from the payload models
themselves. The values it builds are the contract's, field for field: the same
`TzInfo` offsets pydantic gives, fractions of a second cut to microseconds as
pydantic cuts them, the payload's declared fields first and then its extra keys,
as `model_dump` orders them. `tests/unit/test_school_event_shortcut.py` holds it
to the contract on generated and hostile inputs.

Why: the contract's pydantic validation was the largest share of a worker's CPU
per school event (bench/BENCHMARKS.md, "CPU per mix event").
"""

from __future__ import annotations

import re
from datetime import datetime
from math import isfinite
from typing import Any, Callable, Union, get_args, get_origin

from pydantic_core import TzInfo

from engine.identifiers import ID_PATTERN

_ENVELOPE_KEYS = frozenset({"id", "type", "school", "user", "subject", "occurred_at", "data", "cause"})
_REQUIRED_KEYS = frozenset({"id", "type", "school", "user", "occurred_at"})
_SUBJECTS = frozenset({"user", "lead", "visitor"})
_NO_CAUSE: tuple[str, ...] = ()
# ASCII digits only: `\d` would take other scripts' digits, which pydantic refuses with its own reason.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
_SCALARS = frozenset({str, int, float, bool, type(None)})
_JSON_LIKE = frozenset({str, int, float, bool, type(None), dict, list})
_is_id = ID_PATTERN.fullmatch


def _is_text(value: Any) -> bool:
    return type(value) is str


def _is_optional_text(value: Any) -> bool:
    return value is None or type(value) is str


def _is_optional_float(value: Any) -> bool:
    # A NaN or an infinity passes the payload model and is refused after it: the contract says why.
    return value is None or (type(value) is float and isfinite(value))


def _is_optional_bool(value: Any) -> bool:
    return value is None or type(value) is bool


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_profile(value: Any) -> bool:
    """dict[str, str | int | float | bool | None] with nothing to convert."""
    if type(value) is not dict:
        return False
    scalars = _SCALARS
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or kind not in scalars or (kind is float and not isfinite(item)):
            return False
    return True


def _is_json_like(value: Any) -> bool:
    """Dicts with text keys, lists and scalars: what `model_dump` gives back as it found it."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind not in _JSON_LIKE:
            return False
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return True


def _check_of(annotation: Any) -> Callable[[Any], bool] | None:
    """The check of a payload field's type that keeps its value as it is; None if not known."""
    if annotation is str:
        return _is_text
    if annotation is int:
        return _is_int
    if get_origin(annotation) is dict:
        key, value = get_args(annotation)
        if key is str and set(get_args(value)) == _SCALARS:
            return _is_profile
        return None
    if get_origin(annotation) in (Union, type(str | None)):
        others = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(get_args(annotation)) == 2 and len(others) == 1:
            return {str: _is_optional_text, float: _is_optional_float, bool: _is_optional_bool}.get(others[0])
    return None


# A payload model's fields, each (name, check, required, default).
_Fields = tuple[tuple[str, Callable[[Any], bool], bool, Any], ...]


def _fields_of(model: Any) -> _Fields | None:
    fields = []
    for name, info in model.model_fields.items():
        check = _check_of(info.annotation)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if check is None or info.alias is not None or not (default is None or default == {}):
            return None
        fields.append((name, check, info.is_required(), default))
    return tuple(fields)


class Shortcut:
    """Built once from the contract's pieces (`engine.school_events`), so the two cannot drift apart
    on which types, payload fields, ids and instants there are."""

    def __init__(self, payloads: dict[str, Any], refused_types: frozenset[str], event: type, max_id_length: int,
                 earliest: datetime, latest: datetime, data_fits: Callable[[Any], bool]):
        self._payloads = {kind: fields for kind, model in payloads.items()
                          if kind not in refused_types and (fields := _fields_of(model)) is not None}
        self._event = event
        self._max_id_length = max_id_length
        self._earliest, self._latest = earliest, latest
        self._data_fits = data_fits
        self._zones: dict[int, TzInfo] = {}
        self._zones_by_suffix: dict[str, TzInfo] = {}  # "Z" or "+hh:mm" -> its zone

    def accepted(self, raw: Any) -> Any:
        """The `SchoolEvent` the contract makes of `raw`, or None: ask the contract."""
        if type(raw) is not dict or not raw.keys() <= _ENVELOPE_KEYS or not _REQUIRED_KEYS <= raw.keys():
            return None
        event_id, kind, school, user = raw["id"], raw["type"], raw["school"], raw["user"]
        if type(event_id) is not str or len(event_id) > self._max_id_length or not event_id.strip():
            return None
        if type(school) is not str or type(user) is not str or not _is_id(school) or not _is_id(user):
            return None
        fields = self._payloads.get(kind) if type(kind) is str else None
        if fields is None:
            return None
        subject = raw.get("subject", "user")
        if type(subject) is not str or subject not in _SUBJECTS:
            return None
        cause = raw.get("cause", _NO_CAUSE)
        if (type(cause) is not list and type(cause) is not tuple) or cause:
            return None
        occurred_at = self._instant(raw["occurred_at"])
        if occurred_at is None:
            return None
        data = self._payload(raw.get("data", _NO_DATA), fields)
        if data is None:
            return None
        return self._event(id=event_id, type=kind, school=school, user=user, subject=subject,
                           occurred_at=occurred_at, data=data, cause=_NO_CAUSE)

    def _instant(self, text: Any) -> datetime | None:
        if type(text) is not str or _DATE_TIME.fullmatch(text) is None:
            return None
        if text[-1] not in "Zz" and (text[-2:] > "59" or text[-5:-3] > "23"):
            return None  # an offset's minutes or hours out of range: fromisoformat would carry them over
        try:
            # The text is of the pattern's shape, so C's fromisoformat reads it as the fields
            # would be read one by one (`_instant_by_parts`: fractions cut to microseconds), in a
            # fraction of the time; pydantic's offset (a TzInfo) is put in by the constructor.
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return self._instant_by_parts(text)
        if not self._earliest <= parsed < self._latest:
            return None
        suffix = "Z" if text[-1] in "Zz" else text[-6:]
        zone = self._zones_by_suffix.get(suffix)
        if zone is None:
            offset = parsed.utcoffset()
            zone = self._zones_by_suffix[suffix] = self._zone(offset.days * 86400 + offset.seconds)  # type: ignore[union-attr]
        return datetime(parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second,
                        parsed.microsecond, zone)

    def _zone(self, seconds: int) -> TzInfo:
        zone = self._zones.get(seconds)
        if zone is None:
            zone = self._zones[seconds] = TzInfo(seconds)
        return zone

    def _instant_by_parts(self, text: str) -> datetime | None:
        """The instant read field by field: what fromisoformat refuses (a day out of its month,
        an hour of 24...) is refused here too, and anything else is read as the contract reads it."""
        match = _DATE_TIME.fullmatch(text)
        if match is None:
            return None
        year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
        if sign is None:
            seconds = 0
        else:
            hours, minutes = int(offset_hours), int(offset_minutes)
            if hours > 23 or minutes > 59:
                return None
            seconds = hours * 3600 + minutes * 60
            if sign == "-":
                seconds = -seconds
        zone = self._zone(seconds)
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        try:
            instant = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
        except ValueError:
            return None
        if not self._earliest <= instant < self._latest:
            return None
        return instant

    def _payload(self, data: Any, fields: _Fields) -> dict[str, Any] | None:
        """The payload as the contract's `model_dump` gives it: declared fields in order, then extras."""
        if type(data) is not dict:
            return None
        payload: dict[str, Any] = {}
        found = 0
        for name, check, required, default in fields:
            if name in data:
                value = data[name]
                if not check(value):
                    return None
                payload[name] = dict(value) if type(value) is dict else value
                found += 1
            elif required:
                return None
            else:
                payload[name] = {} if type(default) is dict else default
        if found != len(data):  # extra keys: the contract keeps them, after the declared ones
            for key, value in data.items():
                if key not in payload:
                    if type(key) is not str or not _is_json_like(value):
                        return None
                    payload[key] = value
            # Declared fields hold finite numbers (checked above) at depth 2 at most; extras may not.
            if not self._data_fits(payload):
                return None
        return payload


_NO_DATA: dict[str, Any] = {}
