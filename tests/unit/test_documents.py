"""Bad files give precise, located errors and never a traceback.

`load_document` turns text into a mapping or a `DocumentProblem` (line, column);
`parse_automation` turns a mapping into an `Automation` or `Problem`s whose
paths point at the offending key.
"""

from __future__ import annotations

import pytest

from engine.definitions import Automation, Branch, WaitUntilTimeOfDay
from engine.documents import DocumentProblem, Problem, dump_yaml, load_document, locate, parse_automation

# ---------------------------------------------------------------- malformed text

MALFORMED = [
    pytest.param(
        "a.yaml", "id: x\nname: [1, 2\n", 3, 1,
        "this is not valid YAML: while parsing a flow sequence, expected ',' or ']', "
        "but got '<stream end>'.",
        id="unclosed yaml list",
    ),
    pytest.param(
        "a.yml", "id: x\n  name: y\n", 2, 7,
        "this is not valid YAML: mapping values are not allowed here.",
        id="bad yaml indentation",
    ),
    pytest.param(
        "a.yaml", "id: x\nflow: []\nid: y\n", 3, 1,
        "this is not valid YAML: the key 'id' appears twice.",
        id="duplicate yaml key",
    ),
    pytest.param(
        "a.yaml", "base: &b {x: 1}\nother: *b\n", 2, 8,
        "this is not valid YAML: anchors and aliases (*name) are not supported.",
        id="yaml alias",
    ),
    pytest.param(
        "a.yaml", "a: 1\n---\nb: 2\n", 2, 1,
        "this is not valid YAML: expected a single document in the stream, but found another document.",
        id="two yaml documents",
    ),
    pytest.param(
        "a.yaml", "name: x\nb: \x07\n", 2, 4,
        "the file contains a character that is not allowed ('\\x07').",
        id="control character",
    ),
    pytest.param(
        "a.yaml", "a: !!python/object:os.system x\n", 1, 4,
        "this is not valid YAML: explicit tags (tag:yaml.org,2002:python/object:os.system) are not supported.",
        id="python tag refused",
    ),
    pytest.param("a.yaml", "!!float", 1, 1,
                 "this is not valid YAML: explicit tags (tag:yaml.org,2002:float) are not supported.",
                 id="a tag whose reader fails on an empty value"),
    pytest.param("a.yaml", "x: !!timestamp x", 1, 4,
                 "this is not valid YAML: explicit tags (tag:yaml.org,2002:timestamp) are not supported.",
                 id="a tag whose reader fails on text"),
    pytest.param("a.yaml", "x: !local y", 1, 4, "this is not valid YAML: explicit tags (!local) are not supported.",
                 id="a local tag"),
    pytest.param(
        "a.json", '{"id": "x",\n "name": }', 2, 10,
        "this is not valid JSON: Expecting value.",
        id="json missing value",
    ),
    pytest.param(
        "a.json", '{"id": "x",\n "name" "n"}', 2, 9,
        "this is not valid JSON: Expecting ':' delimiter.",
        id="json missing colon",
    ),
    pytest.param(
        "stdin", '{"id": "x"', 1, 11,
        "this is not valid JSON: Expecting ',' delimiter.",
        id="json sniffed from a brace",
    ),
    pytest.param(
        "a.yaml", "- 1\n- 2\n", 1, 1,
        "the file must hold one automation: a mapping with keys such as id, school, name, "
        "triggers and flow (found a list).",
        id="a list, not an automation",
    ),
]


@pytest.mark.parametrize("filename, text, line, column, message", MALFORMED)
def test_malformed_text_is_located(filename, text, line, column, message):
    problem = load_document(text, filename)
    assert problem == DocumentProblem(filename=filename, line=line, column=column, message=message)
    assert str(problem) == f"{filename}:{line}:{column}: {message}"


@pytest.mark.parametrize(
    "filename, text",
    [("a.yaml", ""), ("a.yaml", "# only a comment\n"), ("a.yaml", "~\n")],
)
def test_an_empty_file_says_so(filename, text):
    assert load_document(text, filename) == DocumentProblem(filename=filename, message="the file is empty.")


@pytest.mark.parametrize("text", ["[" * 50_000 + "]" * 50_000, "a: " + "[" * 50_000])
@pytest.mark.parametrize("filename", ["deep.json", "deep.yaml"])
def test_absurd_nesting_is_a_problem_not_a_crash(filename, text):
    assert isinstance(load_document(text, filename), DocumentProblem)


# ---------------------------------------------------------------- YAML that means what it says


def test_yaml_keeps_what_an_administrator_wrote():
    text = (
        "yes: [1]\nno: []\non: 1\ntime: 12:30\nat: 2027-03-01 09:00\nday: 2027-03-01\n"
        "octal_looking: 010\nratio: 1.5\nsmall: 1e-3\nflag: true\nword: yes\nhex: 0x1f\nnothing: ~\n"
    )
    assert load_document(text, "a.yaml") == {
        "yes": [1],
        "no": [],
        "on": 1,
        "time": "12:30",
        "at": "2027-03-01 09:00",
        "day": "2027-03-01",
        "octal_looking": "010",
        "ratio": 1.5,
        "small": 0.001,
        "flag": True,
        "word": "yes",
        "hex": 31,
        "nothing": None,
    }


def test_a_branch_written_in_yaml_keeps_its_yes_and_no_paths():
    text = """
id: a
school: s
name: n
triggers: [{event: user.registered}]
flow:
  - type: branch
    conditions: [{type: has_tag, tag: vip}]
    yes:
      - type: wait_until_time_of_day
        time: 12:30
    no: []
"""
    parsed = parse_automation(load_document(text, "a.yaml"))
    assert isinstance(parsed, Automation)
    branch = parsed.flow[0]
    assert isinstance(branch, Branch)
    assert branch.yes == [WaitUntilTimeOfDay(type="wait_until_time_of_day", time="12:30")]


def test_json_and_yaml_give_the_same_mapping():
    assert load_document('{"id": "a", "flow": [{"type": "branch", "yes": []}]}', "a.json") == load_document(
        "id: a\nflow:\n  - type: branch\n    yes: []\n", "a.yaml"
    )


# ---------------------------------------------------------------- shape problems


def base(**fields) -> dict:
    return {"id": "a", "school": "s", "name": "n", "triggers": [{"event": "user.registered"}], **fields}


STEPS = (
    "send_email, add_tag, remove_tag, enroll_in_course, unenroll_from_course, enroll_in_program, "
    "unenroll_from_program, enroll_in_product, unenroll_from_product, set_field, wait_duration, "
    "wait_until_datetime, wait_until_time_of_day, wait_until_weekday, wait_field_duration, "
    "wait_field_date, branch"
)
SHAPE_CASES = [
    pytest.param(
        base(flow=[{"type": "branch", "yes": [{"type": "send_email", "templat": "x"}]}]),
        [Problem(path="flow[0].yes[0].templat", message="Unknown setting 'templat'. Did you mean 'template'? Allowed here: id, template, type.")],
        id="unknown field in a nested step",
    ),
    pytest.param(
        base(flow=[], colour="blue"),
        [Problem(path="colour", message="Unknown setting 'colour'. Allowed here: activated_at, exits, flow, groups, id, last_edited_at, mode, name, school, status, triggers, version.")],
        id="unknown top-level field",
    ),
    pytest.param(
        base(flow=[{"type": "wait_field_date", "field": "f", "before": {"amount": 1, "units": "days"}}]),
        [Problem(path="flow[0].before.units", message="Unknown setting 'units'. Did you mean 'unit'? Allowed here: amount, unit.")],
        id="unknown field in run-before",
    ),
    pytest.param(
        base(triggers=[{"event": "course.enrolled", "cours": "py"}]),
        [Problem(path="triggers[0].cours", message="Unknown setting 'cours'. Did you mean 'course'? Allowed here: assessment, certificate, conditions, course, days, event, id, kind, lesson, match, passed, product, program, tag.")],
        id="unknown trigger field",
    ),
    pytest.param(
        base(flow=[{"type": "send_mail"}]),
        [Problem(path="flow[0].type", message=f"Unknown step type 'send_mail'. Did you mean 'send_email'? Allowed here: {STEPS}.")],
        id="unknown step type",
    ),
    pytest.param(
        base(flow=[{"template": "x"}]),
        [Problem(path="flow[0]", message=f"Say what kind of step this is with 'type' (one of: {STEPS}).")],
        id="step without a type",
    ),
    pytest.param(
        base(flow=[{"type": "branch", "conditions": [{"type": "hastag", "tag": "x"}]}]),
        [Problem(path="flow[0].conditions[0].type", message="Unknown condition type 'hastag'. Did you mean 'has_tag'? Allowed here: has_tag, lacks_tag, enrolled_in_course, not_enrolled_in_course, completed_course, enrolled_in_program, completed_program, purchased_product, email_is, email_contains, field_equals, field_contains, field_greater, field_less, field_is_empty, field_is_set, field_date_before, field_date_after, registered_before, registered_after.")],
        id="unknown condition type",
    ),
    pytest.param(
        base(flow=[{"type": "wait_duration", "amount": "three", "unit": "weeks"}]),
        [
            Problem(path="flow[0].amount", message="Expected a whole number here, found the text 'three'."),
            Problem(path="flow[0].unit", message="Unknown choice 'weeks'. Allowed here: minutes, hours, days."),
        ],
        id="wrong type and wrong choice",
    ),
    pytest.param(
        base(flow=[{"type": "wait_duration", "amount": 2.5}]),
        [Problem(path="flow[0].amount", message="Expected a whole number here, found the number 2.5.")],
        id="fractional amount",
    ),
    pytest.param(
        base(triggers=[{"event": "course.complete"}]),
        [Problem(path="triggers[0].event", message="Unknown choice 'course.complete'. Did you mean 'course.completed'? Allowed here: user.registered, user.updated, user.tag_added, user.tag_removed, user.activity, course.enrolled, course.unenrolled, course.completed, lesson.completed, program.enrolled, program.completed, product.purchased, certificate.issued, assessment.submitted, user.inactive.")],
        id="misspelt event",
    ),
    pytest.param(
        base(flow=[{"type": "set_field", "field": "f", "value": [1, 2]}]),
        [Problem(path="flow[0].value", message="Expected text, a number or true/false here, found a list.")],
        id="a list where a field value goes",
    ),
    pytest.param(
        base(flow="send an email"),
        [Problem(path="flow", message="Expected a list here, found the text 'send an email'.")],
        id="flow is not a list",
    ),
    pytest.param(
        base(flow=[5]),
        [Problem(path="flow[0]", message="Expected a mapping of settings (key: value) here, found the number 5.")],
        id="a step is not a mapping",
    ),
    pytest.param(
        base(flow=[{"type": "send_email", "template": 42}]),
        [Problem(path="flow[0].template", message="Expected text here, found the number 42.")],
        id="number for text",
    ),
    pytest.param(
        base(flow=[{"type": "branch", "conditions": [{"type": "email_is", "value": "x", "regex": "maybe"}]}]),
        [Problem(path="flow[0].conditions[0].regex", message="Expected true or false here, found the text 'maybe'.")],
        id="text for true/false",
    ),
    pytest.param(
        {"school": "s", "name": "n", "flow": []},
        [Problem(path="id", message="'id' is missing; it is required here.")],
        id="missing id",
    ),
    pytest.param(
        base(flow=[], activated_at="yesterday"),
        [Problem(path="activated_at", message="Expected a date and time such as 2027-03-01T09:00:00Z here, found the text 'yesterday'.")],
        id="unparseable datetime",
    ),
    pytest.param(
        {**base(flow=[]), 7: "x"},
        [Problem(path="", message="Keys must be text; found 7.")],
        id="a number as a key",
    ),
]


@pytest.mark.parametrize("raw, expected", SHAPE_CASES)
def test_shape_problems_name_the_path(raw, expected):
    assert parse_automation(raw) == expected


@pytest.mark.parametrize("raw", [[], "text", 3, None])
def test_anything_but_a_mapping_is_one_problem(raw):
    [problem] = parse_automation(raw)
    assert problem.path == ""
    assert problem.message.startswith("An automation must be a mapping of keys, not ")


def test_branches_nested_past_what_can_be_read_are_one_plain_problem():
    flow = [{"type": "send_email", "template": "t"}]
    for _ in range(400):
        flow = [{"type": "branch", "conditions": [{"type": "has_tag", "tag": "x"}], "yes": flow, "no": []}]

    problems = parse_automation(base(flow=flow))

    assert problems and all(p.message.startswith("This part is nested too deeply to read") for p in problems)


def test_every_shape_problem_is_reported_at_once():
    problems = parse_automation(
        base(flow=[{"type": "nope"}, {"type": "send_email", "x": 1}], exits=[{"event": "bad"}])
    )
    assert [p.path for p in problems] == ["flow[0].type", "flow[1].x", "exits[0].event"]


def test_a_long_value_is_shortened_in_the_message():
    [problem] = parse_automation(base(flow=[{"type": "send_email", "template": 10**100}]))
    assert problem.path == "flow[0].template"
    assert problem.message.endswith("...")
    assert len(problem.message) < 120


# ---------------------------------------------------------------- locating a path in the text

LOCATED = """id: a
flow:
  - type: send_email
    template: x
  - type: branch
    yes:
      - type: wait_duration
        amount: 4
"""


@pytest.mark.parametrize(
    "path, where",
    [
        ("flow[1].yes[0].amount", (8, 9)),  # the key itself
        ("flow[1].yes[0].unit", (7, 9)),  # missing: its step
        ("flow[0]", (3, 5)),
        ("id", (1, 1)),
        ("flow[7]", (2, 1)),  # no such step: the list
        ("", None),
    ],
)
def test_a_problem_path_is_located_in_the_text(path, where):
    assert locate(LOCATED, path) == where


def test_a_path_in_json_text_is_located_too():
    assert locate('{"id": "a",\n "flow": [\n  {"type": "send_email", "amount": 4}]}', "flow[0].amount") == (3, 26)


def test_locating_in_unreadable_text_gives_nothing():
    assert locate("id: [", "id") is None


@pytest.mark.parametrize(
    "text", ["yes", "no", "on", "12:30", "2027-03-01", "010", "1e5", "0E0", "~", "", "Café", "a\x85b", "\u2028", "\ufeff"]
)
def test_yaml_we_write_reads_back_unchanged(text):
    document = {"name": text, text: [text]}
    assert load_document(dump_yaml(document), "a.yaml") == document
