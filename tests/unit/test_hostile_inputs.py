"""Inputs built to break a worker: each is refused with a reason, none raises.

Found by fuzzing the decoders; every case here crashed an agent, blocked a
caller or slipped past the contract before its fix.
"""

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from engine.commands import AdvanceWaiting, FireTimer, ReplayRun, Timer
from engine.school_events import EventRejected, SchoolEvent, parse_school_event
from processors import records
from processors.ingest import edge_event

AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


def event(**changes) -> dict:
    return {"id": "e1", "type": "course.enrolled", "school": "s1", "user": "u1",
            "occurred_at": "2027-03-01T09:00:00Z", "data": {"course": "c"}, **changes}


def message(topic: str, key: str, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, partition=0, offset=0, key=key.encode(), value=value, headers=[])


DECODERS = {"school-events": records.school_event_command, "fired-timers": records.fired_timer_command,
            "control": records.control_command}


# ---------------------------------------------------------------- the broadcast user


def test_a_platform_event_for_the_broadcast_user_is_refused_at_the_edge():
    refused = parse_school_event(event(user="*"))

    assert isinstance(refused, EventRejected)
    assert refused.reason == "user: '*' is reserved (it addresses every learner of a partition)"


def test_a_learner_input_naming_the_broadcast_user_is_dead_lettered_not_broadcast():
    timer = Timer(id="t1", school="s1", user="*", kind="wait", due_at=AT, automation_id="a", run_id="r", step_id="w")
    fired = records.timer_record("fired", timer, fired_at=AT)
    replay = records.control_record(ReplayRun(run_id="r", command_id="c1"), "s1", "*", AT)

    for topic, value, kind in (("fired-timers", fired, FireTimer.__name__), ("control", replay, ReplayRun.__name__)):
        with pytest.raises(records.Undecodable, match=f"reserved for broadcast commands; a {kind} cannot name it"):
            records.learner_input(DECODERS, message(topic, "s1:*", value))


def test_a_definition_change_fan_out_still_names_the_broadcast_user():
    advance = records.control_record(AdvanceWaiting(automation_id="a", step_id="w", command_id="c2"), "s1", "*", AT)

    command, school, user, _ = records.learner_input(DECODERS, message("control", "s1:*", advance))

    assert (type(command), school, user) == (AdvanceWaiting, "s1", records.BROADCAST_USER)


# ---------------------------------------------------------------- occurred_at


@pytest.mark.parametrize("written", ["+1700000000", "1.7e9", "1e3", "-5", ".5"])
def test_occurred_at_written_as_a_number_in_any_notation_is_refused(written):
    refused = parse_school_event(event(occurred_at=written))

    assert isinstance(refused, EventRejected)
    assert "must be an RFC 3339 date-time with a UTC offset, not a number" in refused.reason


@pytest.mark.parametrize("written", ["2027-03-01T09:00:00+0000", "2027-03-01", "09:00:00Z", "2027-W09-1T09:00:00Z"])
def test_occurred_at_that_is_not_rfc_3339_is_refused(written):
    refused = parse_school_event(event(occurred_at=written))

    assert isinstance(refused, EventRejected)
    assert "must be an RFC 3339 date-time with a UTC offset, such as 2027-03-01T09:00:00Z" in refused.reason


@pytest.mark.parametrize("written", ["2027-03-01T09:00:00Z", "2027-03-01t09:00:00.123456+02:00", "2027-03-01 09:00:00-05:30"])
def test_occurred_at_in_rfc_3339_forms_is_taken(written):
    assert isinstance(parse_school_event(event(occurred_at=written)), SchoolEvent)


# ---------------------------------------------------------------- nesting and reasons


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def test_data_nested_near_json_s_own_limit_is_refused_with_a_reason_not_an_overflow():
    line = json.dumps(event(data={"course": "c"}))[:-2] + ', "x": ' + nested(800) + "}}"

    refused = edge_event(line)

    assert isinstance(refused, EventRejected)
    assert refused.reason.endswith("nested deeper than 32 levels")


def test_data_nested_as_deep_as_allowed_is_taken_and_a_non_finite_number_deep_inside_is_found():
    line = json.dumps(event(data={"course": "c"}))[:-2] + ', "x": ' + nested(31) + "}}"
    assert isinstance(edge_event(line), SchoolEvent)

    refused = parse_school_event(event(data={"course": "c", "x": {"y": [1, [2, float("inf")]]}}))
    assert refused.reason == "data.x.y[1][1]: not a finite number"


def test_a_reason_names_the_first_five_problems_and_counts_the_rest():
    many = {"fields": {f"field-{n}": [] for n in range(1000)}}

    refused = parse_school_event(event(type="user.updated", data=many))

    assert isinstance(refused, EventRejected)
    assert refused.reason.count("Input should be") == 5
    assert refused.reason.endswith("; and 3995 more")  # four members of the field-value union per field
    assert len(refused.reason) < 1000


def test_a_long_field_name_is_cut_in_the_reason():
    refused = parse_school_event(event(type="user.updated", data={"fields": {"n" * 10_000: []}}))

    assert "n" * 80 + "..." in refused.reason
    assert len(refused.reason) < 1000


def test_the_http_body_with_a_list_deeper_than_json_dumps_goes_reports_it():
    from api.ingest import read_events

    events, problems = read_events(("[" + nested(990, "{}") + "]").encode(), "s1", 10)

    assert events == []
    assert problems and all(problem["reason"] for problem in problems)
