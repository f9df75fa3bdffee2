"""Inputs built to break a worker: each is refused with a reason, none raises.

Found by fuzzing the decoders; every case here crashed an agent, blocked a
caller or slipped past the contract before its fix.
"""

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from engine.commands import AdvanceWaiting, FireTimer, ReplayRun, Timer
from engine.definitions import Automation
from engine.documents import DocumentProblem, load_document, locator
from engine.school_events import EventRejected, SchoolEvent, parse_school_event
from processors import records
from engine.validation import validate_document
from processors.ingest import edge_event

AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


def event(**changes) -> dict:
    return {"id": "e1", "type": "course.enrolled", "school": "s1", "user": "u1",
            "occurred_at": "2027-03-01T09:00:00Z", "data": {"course": "c"}, **changes}


def message(topic: str, key: str, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, partition=0, offset=0, key=key.encode(), value=value, headers=[])


DECODERS = {"school-events": records.school_event_command, "control": records.control_command}


# ---------------------------------------------------------------- the broadcast user


def test_a_platform_event_for_the_broadcast_user_is_refused_at_the_edge():
    refused = parse_school_event(event(user="*"))

    assert isinstance(refused, EventRejected)
    assert refused.reason == "user: '*' is reserved (it addresses every learner of a partition)"


def test_a_learner_input_naming_the_broadcast_user_is_dead_lettered_not_broadcast():
    replay = records.control_record(ReplayRun(run_id="r", command_id="c1"), "s1", "*", AT)

    for topic, value, kind in (("control", replay, ReplayRun.__name__),):
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


# ---------------------------------------------------------------- definitions


def automation_with(**changes) -> dict:
    return {"id": "a1", "school": "s1", "name": "n", "triggers": [{"event": "user.tag_added", "tag": "t"}],
            "flow": [{"type": "add_tag", "tag": "done"}], **changes}


@pytest.mark.parametrize("flow, message", [
    ([{"type": "set_field", "field": "f", "value": 10**400}],
     "This number is too large: numbers lie between -9223372036854775808 and 9223372036854775807."),
    ([{"type": "wait_duration", "amount": 10**30, "unit": "days"}],
     "This number is too large: numbers lie between -9223372036854775808 and 9223372036854775807."),
    ([{"type": "set_field", "field": "f", "value": float("inf")}], "Numbers must be finite (not NaN or infinity)."),
    ([{"type": "set_field", "field": "f", "value": float("nan")}], "Numbers must be finite (not NaN or infinity)."),
])
def test_a_number_no_record_can_carry_is_a_problem_not_a_crash_at_run_time(flow, message):
    automation, problems = validate_document(automation_with(flow=flow))

    assert automation is None
    assert [(problem.path, problem.message) for problem in problems] == [(f"flow[0].{next(iter(set(flow[0]) - {'type', 'field', 'unit'}))}", message)]


def test_text_that_is_not_unicode_is_a_problem_not_a_failed_save():
    automation, problems = validate_document(automation_with(name="n\udc00", flow=[{"type": "add_tag", "tag": "t", "\ud800": 1}]))

    assert automation is None
    assert [str(problem) for problem in problems] == [
        "name: This text holds a character that is not valid Unicode.",
        'flow[0]["\\ud800"]: This key holds a character that is not valid Unicode.',
    ]


def nested_branches(depth: int) -> list:
    flow: list = [{"type": "add_tag", "tag": "t"}]
    for _ in range(depth):
        flow = [{"type": "branch", "conditions": [{"type": "has_tag", "tag": "vip"}], "yes": flow, "no": []}]
    return flow


def test_branches_nest_about_thirty_deep_and_no_deeper():
    fine, problems = validate_document(automation_with(flow=nested_branches(30)))
    assert fine is not None and problems == []
    assert Automation.model_validate_json(fine.model_dump_json()) == fine  # it can be saved and read back

    refused, problems = validate_document(automation_with(flow=nested_branches(150)))
    assert refused is None
    assert [problem.message for problem in problems] == ["This is nested too deeply (more than 64 levels)."]


def test_deep_nesting_under_an_unknown_key_is_a_problem_not_a_recursion_error():
    automation, problems = validate_document(automation_with(extra=json.loads("[" * 900 + "]" * 900)))

    assert automation is None
    assert [problem.message for problem in problems] == ["This is nested too deeply (more than 64 levels)."]


def test_a_school_with_a_colon_cannot_be_activated():
    _, problems = validate_document(automation_with(school="s1:x"))

    assert [str(problem) for problem in problems] == ["school: A school id cannot contain ':'."]


@pytest.mark.parametrize("text, filename, message", [
    ('{"id": "a", "id": "b"}', "a.json", "this is not valid JSON: the key 'id' appears twice in one object."),
    ('{"id": NaN}', "a.json", "this is not valid JSON: NaN is not a JSON value."),
    ("x: " + "1" * 5000, "a.yaml", "the file holds a number too long to read (over 4,300 digits)."),
    ('{"x": ' + "1" * 5000 + "}", "a.json", "the file holds a number too long to read (over 4,300 digits)."),
])
def test_files_that_used_to_raise_or_mean_two_things_are_document_problems(text, filename, message):
    problem = load_document(text, filename)

    assert isinstance(problem, DocumentProblem) and problem.message == message


def test_locating_many_problems_reads_the_file_once(monkeypatch):
    import yaml

    reads = []
    real_compose = yaml.compose
    monkeypatch.setattr(yaml, "compose", lambda *args, **kwargs: reads.append(1) or real_compose(*args, **kwargs))
    text = "id: a1\nschool: s1\nname: n\ntriggers: []\nflow:\n" + "".join("  - type: add_tag\n" for _ in range(50))

    where = locator(text)
    spots = [where(f"flow[{index}]") for index in range(50)]

    assert len(reads) == 1
    assert spots[49] == (55, 5)


def test_a_school_event_with_a_repeated_key_is_refused_not_read_as_its_last_value():
    line = json.dumps(event())[:-1] + ', "user": "other"}'

    refused = edge_event(line)

    assert isinstance(refused, EventRejected)
    assert refused.reason == "invalid JSON: the key 'user' appears twice in one object"
