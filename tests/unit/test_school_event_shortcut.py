"""The school-event shortcut gives the contract's answer, or leaves the answer to it.

`parse_school_event` first asks `engine.school_event_shortcut`; the pydantic
documents (`parse_by_the_documents`) stay the contract. A differential test:
for raw events of every type, well formed and not (values of the wrong type, or
of a type pydantic would convert; unusual and invalid date-times and offsets;
blank, long, non-ASCII and surrogate ids; unknown, missing and extra keys;
nested, deep and non-finite payload data; mappings that are not dicts), what
the shortcut accepts is the documents' event, exactly: the same types all the
way down, the same offset and `tzinfo` class, the same payload key order. And
`parse_school_event` answers as the documents do, a refusal with the same reason.
The shortcut must also take the common events, or it would save nothing.
"""

from __future__ import annotations

import json
import math
from collections import UserDict
from datetime import datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.school_events import _SHORTCUT, PAYLOADS, EventRejected, SchoolEvent, parse_by_the_documents, parse_school_event
from engine.values import as_dict

_EVENT_TYPES = sorted(PAYLOADS)
_ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,20}", fullmatch=True),
    st.sampled_from(["", " ", "a:b", "*", "-x", ".x", "x" * 200, "x" * 201, "é", "a b", "\ud800", "٣"]),
    st.text(max_size=6),
)
_event_ids = st.one_of(st.text(max_size=8), st.sampled_from(["", "  ", "\n", "x" * 200, "x" * 201, "\udcff"]))
_wrong = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.binary(max_size=3),
                   st.lists(st.integers(), max_size=2), st.tuples(st.text(max_size=2)),
                   st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.text(max_size=4))
_digits2 = st.integers(0, 99).map(lambda n: f"{n:02d}")


@st.composite
def _date_times(draw: st.DrawFn) -> Any:
    year = draw(st.sampled_from(["1969", "1970", "2000", "2027", "2999", "3000", "0000", "9999"])
                | st.integers(0, 9999).map(lambda n: f"{n:04d}"))
    month, day = draw(st.sampled_from(["01", "02", "12", "13", "00"]) | _digits2), draw(st.sampled_from(["01", "28", "29", "30", "31", "32", "00"]))
    hour, minute = draw(st.sampled_from(["00", "09", "23", "24"]) | _digits2), draw(st.sampled_from(["00", "59", "60"]))
    second = draw(st.sampled_from(["00", "30", "59", "60", "61"]))
    fraction = draw(st.sampled_from(["", ".", ".1", ".123", ".123456", ".1234567", ".999999999", ".0000000001"])
                    | st.integers(0, 10**9 - 1).map(lambda n: f".{n}"))
    separator = draw(st.sampled_from(["T", "t", " ", "_", "TT"]))
    zone = draw(st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+02:00", "-05:30", "+23:59", "-23:59", "+24:00",
                                 "+05:60", "+0200", "+02", " Z", "+2:00"])
                | st.tuples(st.sampled_from("+-"), _digits2, _digits2).map("{0[0]}{0[1]}:{0[2]}".format))
    text = f"{year}-{month}-{day}{separator}{hour}:{minute}:{second}{fraction}{zone}"
    return draw(st.sampled_from([text, text, text, f" {text}", f"{text}\n", text.replace("0", "٠"), text.encode()]))


_moments = st.one_of(
    _date_times(),
    st.sampled_from(["2027-03-01T09:00:00Z", "2027-03-01T09:00:00.123+02:00", "1e3", "+1700000000", "", "now",
                     1700000000, 1.7e9, None, datetime(2027, 3, 1, 9), "2027-03-01", "2027-03-01T09:00Z"]),
)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=4))
_nested = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.lists(inner, max_size=2).map(tuple),
    st.dictionaries(st.text(max_size=3) | st.integers(0, 3), inner, max_size=3)), max_leaves=12)


def _deep(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@st.composite
def _payload_value(draw: st.DrawFn, annotation_name: str) -> Any:
    good = {
        "str": st.text(max_size=6),
        "str | None": st.none() | st.text(max_size=6),
        "float | None": st.none() | st.floats(),
        "bool | None": st.none() | st.booleans(),
        "int": st.integers(-(2**70), 2**70),
        "dict[str, FieldValue]": st.dictionaries(st.text(max_size=4), _scalar, max_size=4),
    }.get(annotation_name, _scalar)
    return draw(st.one_of(good, good, good, _wrong, _nested))


@st.composite
def _data(draw: st.DrawFn, event_type: Any) -> Any:
    model = PAYLOADS.get(event_type) if isinstance(event_type, str) else None
    data: dict[Any, Any] = {}
    if model is not None:
        for name, info in model.model_fields.items():
            if draw(st.integers(0, 9)) == 0:
                continue  # left out
            annotation = info.annotation if isinstance(info.annotation, type) else None
            label = annotation.__name__ if annotation is not None else str(info.annotation).replace("typing.", "")
            label = {"dict[str, str | int | float | bool | None]": "dict[str, FieldValue]"}.get(label, label)
            data[name] = draw(_payload_value(label))
    if draw(st.integers(0, 4)) == 0:
        extra = draw(st.sampled_from(["extra", "_private", "model_config", "fields", "x" * 90, "a\nb", 7]))
        data[extra] = draw(st.one_of(_nested, st.just(_deep(31)), st.just(_deep(33)), st.just([math.nan]),
                                     st.just({"n": math.inf}), st.just(b"x"), st.just({1, 2})))
    return draw(st.sampled_from([data] * 8 + [None, [data], "data", UserDict(data)]))


@st.composite
def raw_events(draw: st.DrawFn) -> Any:
    event_type = draw(st.sampled_from(_EVENT_TYPES) | st.sampled_from(["", "user", "user.inactive", 7, None]))
    raw: dict[Any, Any] = {
        "id": draw(_event_ids | _wrong),
        "type": event_type,
        "school": draw(_ids),
        "user": draw(_ids),
        "subject": draw(st.sampled_from(["user", "lead", "visitor", "User", "", None, 1])),
        "occurred_at": draw(_moments),
        "data": draw(_data(event_type)),
        "cause": draw(st.sampled_from([[], (), ["e1"], None, "", {}])),
    }
    for key in ("subject", "data", "cause", "id", "occurred_at"):
        if draw(st.integers(0, 5)) == 0:
            del raw[key]
    if draw(st.integers(0, 10)) == 0:
        raw[draw(st.sampled_from(["extra", "Id", 3]))] = "x"
    return draw(st.sampled_from([raw] * 10 + [UserDict(raw), list(raw.items()), json.dumps(raw, default=str)]))


def _typed(value: Any) -> Any:
    """`value` with every type spelled out: 1, 1.0 and True differ, so do lists and tuples."""
    if isinstance(value, dict):
        return ("dict", [(_typed(key), _typed(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), type(value.tzinfo).__name__, value.utcoffset())
    return (type(value).__name__, value)


def assert_the_shortcut_agrees(raw: Any) -> SchoolEvent | None:
    by_documents = parse_by_the_documents(raw)
    quick = _SHORTCUT.accepted(raw)
    if quick is not None:
        assert isinstance(by_documents, SchoolEvent), (raw, by_documents)
        assert _typed(as_dict(quick)) == _typed(as_dict(by_documents))
    answer = parse_school_event(raw)
    assert type(answer) is type(by_documents)
    if isinstance(by_documents, EventRejected):
        assert answer == by_documents  # the same reason and event id
    else:
        assert _typed(as_dict(answer)) == _typed(as_dict(by_documents))
    return quick


@settings(max_examples=1500)
@given(raw_events())
@example({"id": "e", "type": "user.updated", "school": "s", "user": "u", "occurred_at": "2027-03-01t09:00:00.9999999z",
          "data": {"fields": {"big": 2**70, "b": True, "f": 1.0, "n": None}, "_p": [1, (2, 3)]}})
@example({"id": "e", "type": "assessment.submitted", "school": "s", "user": "u", "occurred_at": "2027-03-01 09:00:00-00:00",
          "data": {"assessment": "a", "score": 5, "passed": 1}})
@example({"id": "\ud800", "type": "lesson.completed", "school": "s", "user": "u", "occurred_at": "2027-03-01T09:00:00+23:59",
          "data": {"course": "\udc00", "lesson": "l"}})
def test_what_the_shortcut_accepts_the_documents_accept_alike(raw: Any) -> None:
    assert_the_shortcut_agrees(raw)


_AVRO_LIKE = [  # as school_event_from_avro hands them over: every payload field present
    ("user.activity", {"kind": "page_view"}), ("user.activity", {"kind": None}),
    ("lesson.completed", {"course": "course-1", "lesson": "l1"}),
    ("assessment.submitted", {"assessment": "quiz", "score": 0.8, "passed": True}),
    ("user.updated", {"email": None, "fields": {"score": 41, "plan": "pro", "ratio": 0.5, "ok": False, "gone": None}}),
    ("user.registered", {"email": "ada+test@example.org", "fields": {}}),
    ("course.enrolled", {"course": "course-1"}), ("user.tag_added", {"tag": "vip"}),
    ("certificate.issued", {"certificate": "c", "course": None, "expires_at": "2028-01-01"}),
    ("product.purchased", {"product": "p"}), ("program.completed", {"program": "p"}),
]


@given(st.sampled_from(_AVRO_LIKE), st.sampled_from(["user", "lead", "visitor"]),
       st.sampled_from(["2027-03-01T09:00:00Z", "2027-03-01T09:00:00.123+02:00", "1999-12-31T23:59:59.999999-05:30"]),
       st.sampled_from([[], (), None]))
def test_the_shortcut_takes_the_common_events(typed_data, subject, occurred_at, cause) -> None:
    event_type, data = typed_data
    raw = {"id": "evt-1", "type": event_type, "school": "school-1", "user": "ada@example.org", "subject": subject,
           "occurred_at": occurred_at, "data": dict(data)}
    if cause is not None:
        raw["cause"] = cause
    assert assert_the_shortcut_agrees(raw) is not None


@settings(max_examples=3000)
@given(_date_times().filter(lambda text: isinstance(text, str)))
@example("2027-03-01T09:00:00+05:60")
@example("2027-03-01T09:00:00.9999999-23:59")
@example("2027-02-29T09:00:00Z")
@example("2027-03-01t24:00:00z")
def test_an_instant_read_by_fromisoformat_is_the_one_read_field_by_field(text: str) -> None:
    """`_instant` reads the date-time with C's fromisoformat where it can; reading it field by field
    (`_instant_by_parts`, the shortcut's reading before) gives the same instant, offset and zone class,
    and refuses the same texts."""
    fast, by_parts = _SHORTCUT._instant(text), _SHORTCUT._instant_by_parts(text)
    if by_parts is None:
        assert fast is None, text
    else:
        assert fast is not None, text
        assert (fast, fast.utcoffset(), type(fast.tzinfo)) == (by_parts, by_parts.utcoffset(), type(by_parts.tzinfo))
        assert fast.replace(tzinfo=None) == by_parts.replace(tzinfo=None)
