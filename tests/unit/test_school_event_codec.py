"""School events across the wire: SchoolEvent <-> Avro, and the JSON edge.

Properties: every valid event round-trips through Avro unchanged (offset
included); whatever text arrives at the JSON edge becomes an event or a
rejection with a one-line reason, never an exception; and an event the edge
accepts can always be written to the topic.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.identifiers import ID_PATTERN
from engine.school_events import PAYLOADS, EventRejected, SchoolEvent, parse_school_event
from engine.values import as_dict
from schemas.codec import SHIPPED
from schemas.school_events import (
    MAX_LINE_CHARS,
    decode_school_event,
    encode_school_event,
    parse_json_line,
    school_event_from_avro,
    school_event_to_avro,
)
from tests.unit.test_schemas_roundtrip import assert_same

# ---------------------------------------------------------------- strategies

_text = st.text(max_size=15)
_finite = st.floats(allow_nan=False, allow_infinity=False)  # JSON has no NaN or Infinity
_name = st.text(min_size=1, max_size=15).filter(str.strip)
# Schools and users are ids (engine.identifiers); event ids are any text.
_id = st.from_regex(ID_PATTERN, fullmatch=True).filter(lambda name: len(name) <= 40)
_field_value = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), _finite, _text
)
_profile = st.fixed_dictionaries(
    {"email": st.none() | _text, "fields": st.dictionaries(_text, _field_value, max_size=4)}
)
PAYLOAD_VALUES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "UserRegistered": _profile,
    "UserUpdated": _profile,
    "TagChanged": st.fixed_dictionaries({"tag": _text}),
    "Activity": st.fixed_dictionaries({"kind": st.none() | _text}),
    "CourseChanged": st.fixed_dictionaries({"course": _text}),
    "LessonCompleted": st.fixed_dictionaries({"course": _text, "lesson": _text}),
    "ProgramChanged": st.fixed_dictionaries({"program": _text}),
    "ProductPurchased": st.fixed_dictionaries({"product": _text}),
    "CertificateIssued": st.fixed_dictionaries(
        {"certificate": _text, "course": st.none() | _text, "expires_at": st.none() | _text}
    ),
    "AssessmentSubmitted": st.fixed_dictionaries(
        {"assessment": _text, "score": st.none() | _finite, "passed": st.none() | st.booleans()}
    ),
    "Inactive": st.fixed_dictionaries({"days": st.integers(-(2**63), 2**63 - 1)}),
}
# RFC 3339 offsets: whole minutes within a day.
_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
# The contract's range (1970 to 2999), a day inside each end so any offset stays within it.
_rfc3339_moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=_offsets)
# Events built in Python may carry any zone, even one with a +00:19:32 offset.
_any_moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=_offsets | st.timezones()
)


@st.composite
def raw_events(draw: st.DrawFn) -> dict[str, Any]:
    # user.inactive is the engine's own, and a platform event has no cause (the contract)
    event_type = draw(st.sampled_from(sorted(set(PAYLOADS) - {"user.inactive"})))
    return {
        "id": draw(_name),
        "type": event_type,
        "school": draw(_id),
        "user": draw(_id),
        "subject": draw(st.sampled_from(["user", "lead", "visitor"])),
        "occurred_at": draw(_rfc3339_moments).isoformat(),
        "data": draw(PAYLOAD_VALUES[PAYLOADS[event_type].__name__]),
        "cause": [],
    }


@st.composite
def events(draw: st.DrawFn) -> SchoolEvent | EventRejected:
    return parse_school_event({**draw(raw_events()), "occurred_at": draw(_any_moments)})


def assert_same_event(actual: SchoolEvent | EventRejected, expected: SchoolEvent) -> None:
    assert isinstance(actual, SchoolEvent), actual
    assert_same({k: v for k, v in as_dict(actual).items() if k != "occurred_at"},
                {k: v for k, v in as_dict(expected).items() if k != "occurred_at"})
    # Compared in UTC: aware datetimes in a DST fold never equal other zones' (PEP 495).
    assert actual.occurred_at.astimezone(timezone.utc) == expected.occurred_at.astimezone(timezone.utc)
    if expected.occurred_at.utcoffset().total_seconds() % 60 == 0:  # type: ignore[union-attr]
        assert actual.occurred_at.utcoffset() == expected.occurred_at.utcoffset()


# ---------------------------------------------------------------- the payload records


def test_every_payload_of_the_contract_has_its_record_with_the_same_fields() -> None:
    data_field = next(f for f in SHIPPED.latest("school_event").schema["fields"] if f["name"] == "data")
    records = {r["name"].rsplit(".", 1)[-1]: r for r in data_field["type"]}
    for model in set(PAYLOADS.values()):
        fields = {f["name"]: f for f in records[model.__name__]["fields"]}
        assert set(fields) == set(model.model_fields), model.__name__
        for name, info in model.model_fields.items():
            assert ("default" not in fields[name]) == info.is_required(), f"{model.__name__}.{name}"
    assert set(PAYLOAD_VALUES) == {m.__name__ for m in PAYLOADS.values()}


# ---------------------------------------------------------------- round trips


@settings(max_examples=300)
@given(event=events())
def test_every_event_round_trips_through_avro(event: SchoolEvent | EventRejected) -> None:
    assert isinstance(event, SchoolEvent), event

    assert_same_event(decode_school_event(encode_school_event(event)), event)


@settings(max_examples=200)
@given(raw=raw_events())
def test_the_json_edge_and_the_avro_topic_agree(raw: dict[str, Any]) -> None:
    from_json = parse_json_line(json.dumps(raw))

    assert isinstance(from_json, SchoolEvent), from_json
    assert_same_event(decode_school_event(encode_school_event(from_json)), from_json)
    assert_same_event(from_json, parse_school_event(raw))  # type: ignore[arg-type]


def test_the_design_example_keeps_its_offset() -> None:
    line = ('{"id": "evt-1", "type": "course.enrolled", "school": "s1", "user": "u42", '
            '"subject": "user", "occurred_at": "2027-03-01T09:00:00+02:00", '
            '"data": {"course": "python-101"}}')

    event = parse_json_line(line)

    assert isinstance(event, SchoolEvent)
    record = school_event_to_avro(event)
    assert record["occurred_at"] == "2027-03-01T09:00:00+02:00"
    assert record["data"] == ("org.schoolautomations.CourseChanged", {"course": "python-101"})
    assert_same_event(decode_school_event(encode_school_event(event)), event)


def test_a_historical_offset_with_seconds_travels_as_the_same_instant_in_utc() -> None:
    lmt = timezone(timedelta(minutes=19, seconds=32))
    event = SchoolEvent(id="e", type="user.activity", school="s", user="u",
                        occurred_at=datetime(1970, 1, 2, tzinfo=lmt), data={"kind": None})

    decoded = decode_school_event(encode_school_event(event))

    assert isinstance(decoded, SchoolEvent)
    assert decoded.occurred_at == event.occurred_at and decoded.occurred_at.utcoffset() == timedelta(0)


def test_payload_keys_the_schema_does_not_name_are_dropped_at_the_edge() -> None:
    line = ('{"id": "e", "type": "course.enrolled", "school": "s", "user": "u", '
            '"occurred_at": "2027-03-01T09:00:00Z", "data": {"course": "c", "seats": 3}}')

    event = parse_json_line(line)

    assert isinstance(event, SchoolEvent) and event.data == {"course": "c"}
    assert decode_school_event(encode_school_event(event)) == event


def test_a_payload_record_that_does_not_match_the_type_is_rejected() -> None:
    record = school_event_to_avro(parse_school_event(  # type: ignore[arg-type]
        {"id": "e", "type": "lesson.completed", "school": "s", "user": "u",
         "occurred_at": "2027-03-01T09:00:00Z", "data": {"course": "c", "lesson": "l"}}))

    rejected = school_event_from_avro({**record, "type": "course.enrolled"})

    assert rejected == EventRejected(
        reason="data is a LessonCompleted record, but a course.enrolled event carries CourseChanged",
        event_id="e",
    )


# ---------------------------------------------------------------- the JSON edge refuses cleanly


def _valid_line(**changes: Any) -> str:
    raw = {"id": "e", "type": "user.registered", "school": "s", "user": "u",
           "occurred_at": "2027-03-01T09:00:00Z", "data": {"fields": {}}}
    return json.dumps({**raw, **changes})


def test_json_edge_reasons() -> None:
    cases = {
        "{": "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        '{"x": NaN}': "invalid JSON: NaN is not a JSON value",
        "[" * 100_000: "invalid JSON: maximum recursion depth exceeded",
        "[1]": "an event must be a JSON object, got list",
        _valid_line(data={"fields": {"age": 2**64}}): "event.data.fields.age: integer outside the 64-bit range",
        _valid_line(data={"fields": {"nick": "\ud800"}}): "event.data.fields.nick: not valid Unicode text",
        _valid_line(id="\udfff"): "event.id: not valid Unicode text",
        " " * (MAX_LINE_CHARS + 1): f"event is {MAX_LINE_CHARS + 1} characters, over {MAX_LINE_CHARS}",
    }
    for line, reason in cases.items():
        result = parse_json_line(line)
        assert isinstance(result, EventRejected) and result.reason.startswith(reason), (line[:40], result)


def test_what_only_the_engine_makes_or_would_break_its_keys_and_dates_is_refused_at_every_edge() -> None:
    cases = {
        _valid_line(type="user.inactive", data={"days": 3}): "user.inactive is made by the engine",
        _valid_line(cause=["e0"]): "cause is the engine's own",
        _valid_line(school="a:b"): "school: must not contain ':'",
        _valid_line(occurred_at=1700000000): "occurred_at: Value error, must be an RFC 3339 date-time",
        _valid_line(occurred_at="1700000000"): "occurred_at: Value error, must be an RFC 3339 date-time",
        _valid_line(occurred_at="9999-12-30T00:00:00Z"): "occurred_at: Value error, must lie between 1970 and 2999",
        _valid_line(occurred_at="1969-12-31T23:59:59Z"): "occurred_at: Value error, must lie between 1970 and 2999",
        _valid_line(data={"fields": {"score": 1e400}}).replace("Infinity", "1e400"): "data.fields.score: not a finite number",
    }
    for line, reason in cases.items():
        from_json = parse_json_line(line)
        assert isinstance(from_json, EventRejected) and reason in from_json.reason, (line, from_json)
        assert isinstance(parse_school_event(json.loads(line)), EventRejected), line  # the Avro path's check too


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_event_keys = ["id", "type", "school", "user", "subject", "occurred_at", "data", "cause"]


@st.composite
def damaged_lines(draw: st.DrawFn) -> str:
    raw = draw(raw_events())
    for _ in range(draw(st.integers(1, 3))):
        raw[draw(st.sampled_from(_event_keys))] = draw(_json_values)
    if draw(st.booleans()):
        raw["data"] = {**(raw["data"] if isinstance(raw["data"], dict) else {}), draw(_text): draw(_json_values)}
    return json.dumps(raw)


@settings(max_examples=400)
@given(line=st.text(max_size=80) | _json_values.map(json.dumps) | damaged_lines())
def test_any_text_becomes_an_event_that_fits_the_topic_or_a_one_line_rejection(line: str) -> None:
    result = parse_json_line(line)

    if isinstance(result, EventRejected):
        assert result.reason and "\n" not in result.reason
        result.reason.encode("utf-8")
    else:
        assert_same_event(decode_school_event(encode_school_event(result)), result)


@settings(max_examples=300)
@given(data=st.binary(max_size=100))
def test_any_bytes_decode_to_an_event_or_a_rejection(data: bytes) -> None:
    header = b"\xc3\x01" + SHIPPED.latest("school_event").fingerprint

    for candidate in (data, header + data):
        result = decode_school_event(candidate)
        assert isinstance(result, (SchoolEvent, EventRejected))
