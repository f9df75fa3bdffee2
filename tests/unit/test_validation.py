"""Validation rules, one table per rule: the valid edge passes, the invalid edge is
reported with its document path and the sentence the administrator sees.

Each case builds a small automation document, runs `validate_document` and
compares the full list of problems, so a case also fails if a rule reports
something it should not.
"""

from __future__ import annotations

import pytest

from engine.validation import Problem, validate_document

# ---------------------------------------------------------------- document builders


def automation(triggers=None, flow=None, exits=None, **fields) -> dict:
    return {
        "id": "auto-1",
        "school": "school-1",
        "name": "Welcome",
        "triggers": triggers if triggers is not None else [trigger()],
        "flow": flow if flow is not None else [email()],
        "exits": exits if exits is not None else [],
        **fields,
    }


def trigger(event="user.registered", **fields) -> dict:
    return {"event": event, **fields}


def exit_on(event="course.completed", **fields) -> dict:
    return {"event": event, **fields}


def email(template="welcome") -> dict:
    return {"type": "send_email", "template": template}


def wait(amount=1, unit="days", **fields) -> dict:
    return {"type": "wait_duration", "amount": amount, "unit": unit, **fields}


def branch(yes=(), no=(), conditions=None) -> dict:
    return {
        "type": "branch",
        "conditions": conditions if conditions is not None else [tag_condition()],
        "yes": list(yes),
        "no": list(no),
    }


def tag_condition(tag="vip") -> dict:
    return {"type": "has_tag", "tag": tag}


def problems_of(document: dict) -> list[tuple[str, str]]:
    parsed, problems = validate_document(document)
    assert parsed is not None, f"the document did not even parse: {problems}"
    return [(p.path, p.message) for p in problems]


def case(name, document, *expected):
    return pytest.param(document, list(expected), id=name)


def check(document, expected):
    assert problems_of(document) == expected


# ---------------------------------------------------------------- triggers

TRIGGER_CASES = [
    case("1 trigger", automation(triggers=[trigger()])),
    case("10 triggers", automation(triggers=[trigger()] * 10)),
    case(
        "11 triggers",
        automation(triggers=[trigger()] * 11),
        ("triggers", "An automation can have at most 10 triggers; this one has 11."),
    ),
    case(
        "no trigger",
        automation(triggers=[]),
        ("triggers", "Add a trigger: every automation starts with one."),
    ),
    case("10 conditions", automation(triggers=[trigger(conditions=[tag_condition()] * 10)])),
    case(
        "11 conditions",
        automation(triggers=[trigger(), trigger(conditions=[tag_condition()] * 11)]),
        (
            "triggers[1].conditions",
            "A trigger can have at most 10 conditions; this one has 11.",
        ),
    ),
]


@pytest.mark.parametrize("document, expected", TRIGGER_CASES)
def test_trigger_limits(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- exit conditions

EXIT_CASES = [
    case("no exits", automation(exits=[])),
    case("10 exits", automation(exits=[exit_on()] * 10)),
    case(
        "11 exits",
        automation(exits=[exit_on()] * 11),
        ("exits", "An automation can have at most 10 exit conditions; this one has 11."),
    ),
    case("20 filters", automation(exits=[exit_on(filters=[tag_condition()] * 20)])),
    case(
        "21 filters",
        automation(exits=[exit_on(filters=[tag_condition()] * 21)]),
        ("exits[0].filters", "An exit condition can have at most 20 filters; this one has 21."),
    ),
]


@pytest.mark.parametrize("document, expected", EXIT_CASES)
def test_exit_limits(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- event parameters

PARAMETER_CASES = [
    case("course on course.enrolled", automation(triggers=[trigger("course.enrolled", course="py")])),
    case(
        "course on user.registered",
        automation(triggers=[trigger("user.registered", course="py")]),
        ("triggers[0].course", "A trigger on 'user.registered' cannot use 'course'; remove it."),
    ),
    case(
        "tag on course.completed exit",
        automation(exits=[exit_on("course.completed", tag="vip")]),
        (
            "exits[0].tag",
            "An exit condition on 'course.completed' cannot use 'tag'; remove it "
            "(this event takes: course).",
        ),
    ),
    case(
        "lesson and course on lesson.completed",
        automation(triggers=[trigger("lesson.completed", course="py", lesson="l1")]),
    ),
    case(
        "passed on assessment.submitted",
        automation(triggers=[trigger("assessment.submitted", assessment="quiz", passed=True)]),
    ),
    case("inactive 1 day", automation(triggers=[trigger("user.inactive", days=1)])),
    case(
        "inactive 0 days",
        automation(triggers=[trigger("user.inactive", days=0)]),
        ("triggers[0].days", "Inactivity must last at least 1 day."),
    ),
    case("inactive 365 days", automation(triggers=[trigger("user.inactive", days=365)])),
    case(
        "inactive 366 days",
        automation(triggers=[trigger("user.inactive", days=366)]),
        ("triggers[0].days", "Inactivity can last at most 365 days, like a wait; this one is 366 days."),
    ),
    case(
        "an exit on 3,000,000 days of inactivity",
        automation(exits=[exit_on("user.inactive", days=3_000_000)]),
        ("exits[0].days", "Inactivity can last at most 365 days, like a wait; this one is 3000000 days."),
    ),
    case(
        "inactive without days",
        automation(triggers=[trigger("user.inactive")]),
        ("triggers[0].days", "Say after how many days without activity this fires."),
    ),
    case(
        "days on course.completed",
        automation(triggers=[trigger("course.completed", days=3)]),
        (
            "triggers[0].days",
            "A trigger on 'course.completed' cannot use 'days'; remove it (this event takes: course).",
        ),
    ),
    case(
        "blank course",
        automation(triggers=[trigger("course.enrolled", course=" ")]),
        ("triggers[0].course", "The course is empty; enter one, or leave it out to match any course."),
    ),
]


@pytest.mark.parametrize("document, expected", PARAMETER_CASES)
def test_event_parameters(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- wait durations

DURATION_CASES = [
    case("5 minutes", automation(flow=[wait(5, "minutes"), email()])),
    case(
        "4 minutes",
        automation(flow=[wait(4, "minutes"), email()]),
        ("flow[0].amount", "A wait must last at least 5 minutes; this one is 4 minutes."),
    ),
    case(
        "1 minute",
        automation(flow=[email(), wait(1, "minutes")]),
        ("flow[1].amount", "A wait must last at least 5 minutes; this one is 1 minute."),
    ),
    case(
        "0 hours",
        automation(flow=[wait(0, "hours"), email()]),
        ("flow[0].amount", "A wait must last at least 5 minutes; this one is 0 hours."),
    ),
    case(
        "negative days",
        automation(flow=[wait(-1, "days"), email()]),
        ("flow[0].amount", "A wait must last at least 5 minutes; this one is -1 days."),
    ),
    case("365 days", automation(flow=[wait(365, "days"), email()])),
    case(
        "366 days",
        automation(flow=[wait(366, "days"), email()]),
        ("flow[0].amount", "A wait can last at most 365 days; this one is 366 days."),
    ),
    case("525600 minutes", automation(flow=[wait(525600, "minutes"), email()])),
    case(
        "525601 minutes",
        automation(flow=[wait(525601, "minutes"), email()]),
        ("flow[0].amount", "A wait can last at most 365 days; this one is 525601 minutes."),
    ),
    case("8760 hours", automation(flow=[wait(8760, "hours"), email()])),
    case(
        "8761 hours",
        automation(flow=[wait(8761, "hours"), email()]),
        ("flow[0].amount", "A wait can last at most 365 days; this one is 8761 hours."),
    ),
    case(
        "a huge number",
        automation(flow=[wait(10**15, "days"), email()]),
        (
            "flow[0].amount",
            f"A wait can last at most 365 days; this one is {10**15} days.",
        ),
    ),
    case(
        "no amount",
        automation(flow=[{"type": "wait_duration"}, email()]),
        ("flow[0].amount", "Enter how long to wait."),
    ),
    case(
        "inside a branch",
        automation(flow=[email(), branch(no=[email(), wait(4, "minutes")])]),
        ("flow[1].no[1].amount", "A wait must last at least 5 minutes; this one is 4 minutes."),
    ),
]


@pytest.mark.parametrize("document, expected", DURATION_CASES)
def test_wait_duration_range(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- waits in a row

AFTER = "add an action between the two waits."
IN_A_ROW_CASES = [
    case("wait action wait", automation(flow=[wait(), email(), wait()])),
    case(
        "wait wait",
        automation(flow=[wait(), wait()]),
        ("flow[1]", f"This wait can follow the wait at flow[0] with no action between them; {AFTER}"),
    ),
    case(
        "wait, branch whose yes path starts with a wait",
        automation(flow=[wait(), branch(yes=[wait(), email()], no=[email()])]),
        (
            "flow[1].yes[0]",
            f"This wait can follow the wait at flow[0] with no action between them; {AFTER}",
        ),
    ),
    case(
        "wait, branch with an action on both paths, wait",
        automation(flow=[wait(), branch(yes=[email()], no=[email()]), wait()]),
    ),
    case(
        "wait, branch with an empty no path, wait",
        automation(flow=[wait(), branch(yes=[email()], no=[]), wait()]),
        ("flow[2]", f"This wait can follow the wait at flow[0] with no action between them; {AFTER}"),
    ),
    case(
        "wait at the end of a yes path, then a wait after the branch",
        automation(flow=[email(), branch(yes=[email(), wait()], no=[email()]), wait()]),
        (
            "flow[2]",
            f"This wait can follow the wait at flow[1].yes[1] with no action between them; {AFTER}",
        ),
    ),
    case(
        "wait at the end of a yes path, action after the branch, wait",
        automation(flow=[branch(yes=[email(), wait()]), email(), wait()]),
    ),
    case(
        "wait through a nested empty branch",
        automation(flow=[wait(), branch(yes=[branch(yes=[], no=[])], no=[email()]), wait()]),
        ("flow[2]", f"This wait can follow the wait at flow[0] with no action between them; {AFTER}"),
    ),
    case(
        "a wait first and a wait last in the flow",
        automation(flow=[wait(), email(), branch(yes=[email()]), email(), wait()]),
    ),
    case(
        "every kind of wait counts",
        automation(
            flow=[
                {"type": "wait_until_time_of_day", "time": "09:00"},
                {"type": "wait_field_date", "field": "renewal_on"},
            ]
        ),
        ("flow[1]", f"This wait can follow the wait at flow[0] with no action between them; {AFTER}"),
    ),
]


@pytest.mark.parametrize("document, expected", IN_A_ROW_CASES)
def test_no_two_waits_without_an_action(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- flow size and branches

FLOW_CASES = [
    case("200 steps", automation(flow=[email()] * 200)),
    case(
        "201 steps",
        automation(flow=[email()] * 201),
        (
            "flow",
            "An automation can have at most 200 steps (branches and the steps inside them "
            "count); this one has 201.",
        ),
    ),
    case("200 steps with a branch", automation(flow=[branch(yes=[email()] * 199)])),
    case(
        "201 steps with a branch",
        automation(flow=[branch(yes=[email()] * 100, no=[email()] * 100)]),
        (
            "flow",
            "An automation can have at most 200 steps (branches and the steps inside them "
            "count); this one has 201.",
        ),
    ),
    case("one step", automation(flow=[email()])),
    case("empty flow", automation(flow=[]), ("flow", "The flow is empty: add at least one step.")),
    case("branch with empty paths", automation(flow=[branch(yes=[], no=[])])),
    case("branch with one condition", automation(flow=[branch(yes=[email()])])),
    case(
        "branch without conditions",
        automation(flow=[email(), branch(yes=[email()], conditions=[])]),
        ("flow[1].conditions", "A branch needs at least one condition to choose between yes and no."),
    ),
    case(
        "nested branch without conditions",
        automation(flow=[branch(no=[branch(conditions=[])])]),
        ("flow[0].no[0].conditions", "A branch needs at least one condition to choose between yes and no."),
    ),
]


@pytest.mark.parametrize("document, expected", FLOW_CASES)
def test_flow_shape(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- actions name their target

ACTION_TARGETS = [
    ("send_email", "template", "Choose the email template to send."),
    ("add_tag", "tag", "Choose the tag to add."),
    ("remove_tag", "tag", "Choose the tag to remove."),
    ("enroll_in_course", "course", "Choose the course to enroll the learner in."),
    ("unenroll_from_course", "course", "Choose the course to unenroll the learner from."),
    ("enroll_in_program", "program", "Choose the program to enroll the learner in."),
    ("unenroll_from_program", "program", "Choose the program to unenroll the learner from."),
    ("enroll_in_product", "product", "Choose the product to enroll the learner in."),
    ("unenroll_from_product", "product", "Choose the product to unenroll the learner from."),
    ("set_field", "field", "Enter the name of the profile field to set."),
]


@pytest.mark.parametrize("step_type, target, message", ACTION_TARGETS)
def test_an_action_names_what_it_acts_on(step_type, target, message):
    named = automation(flow=[email(), {"type": step_type, target: "x"}])
    unnamed = automation(flow=[email(), {"type": step_type}])
    blank = automation(flow=[email(), {"type": step_type, target: "  "}])
    assert problems_of(named) == []
    assert problems_of(unnamed) == [(f"flow[1].{target}", message)]
    assert problems_of(blank) == [(f"flow[1].{target}", message)]


# ---------------------------------------------------------------- conditions name what they test

FIELD = "Enter the name of the profile field to check."
CONDITION_SUBJECTS = [
    ({"type": "has_tag", "tag": "vip"}, "tag", "Choose the tag this condition checks."),
    ({"type": "lacks_tag", "tag": "vip"}, "tag", "Choose the tag this condition checks."),
    ({"type": "enrolled_in_course", "course": "py"}, "course", "Choose the course this condition checks."),
    ({"type": "not_enrolled_in_course", "course": "py"}, "course", "Choose the course this condition checks."),
    ({"type": "completed_course", "course": "py"}, "course", "Choose the course this condition checks."),
    ({"type": "enrolled_in_program", "program": "p"}, "program", "Choose the program this condition checks."),
    ({"type": "completed_program", "program": "p"}, "program", "Choose the program this condition checks."),
    ({"type": "purchased_product", "product": "p"}, "product", "Choose the product this condition checks."),
    ({"type": "email_is", "value": "a@b.c"}, "value", "Enter the email address (or pattern) to compare with."),
    ({"type": "email_contains", "value": "@b.c"}, "value", "Enter the text the email must contain."),
    ({"type": "field_equals", "field": "plan", "value": "pro"}, "field", FIELD),
    ({"type": "field_equals", "field": "plan", "value": "pro"}, "value", "Enter the value to compare the field with."),
    ({"type": "field_contains", "field": "plan", "value": "pro"}, "field", FIELD),
    ({"type": "field_contains", "field": "plan", "value": "pro"}, "value", "Enter the text the field must contain."),
    ({"type": "field_greater", "field": "age", "value": 18}, "field", FIELD),
    ({"type": "field_greater", "field": "age", "value": 18}, "value", "Enter the number to compare the field with."),
    ({"type": "field_less", "field": "age", "value": 18}, "field", FIELD),
    ({"type": "field_less", "field": "age", "value": 18}, "value", "Enter the number to compare the field with."),
    ({"type": "field_is_empty", "field": "phone"}, "field", FIELD),
    ({"type": "field_is_set", "field": "phone"}, "field", FIELD),
    ({"type": "field_date_before", "field": "born", "date": "2000-01-01"}, "field", FIELD),
    ({"type": "field_date_before", "field": "born", "date": "2000-01-01"}, "date", "Enter the date to compare the field with."),
    ({"type": "field_date_after", "field": "born", "date": "2000-01-01"}, "field", FIELD),
    ({"type": "field_date_after", "field": "born", "date": "2000-01-01"}, "date", "Enter the date to compare the field with."),
    ({"type": "registered_before", "at": "2027-01-01T00:00:00Z"}, "at", "Enter the date and time to compare the registration with."),
    ({"type": "registered_after", "at": "2027-01-01T00:00:00Z"}, "at", "Enter the date and time to compare the registration with."),
]


@pytest.mark.parametrize(
    "condition, subject, message",
    CONDITION_SUBJECTS,
    ids=[f"{c['type']}.{s}" for c, s, _ in CONDITION_SUBJECTS],
)
def test_a_condition_names_what_it_tests(condition, subject, message):
    without = {k: v for k, v in condition.items() if k != subject}
    assert problems_of(automation(triggers=[trigger(conditions=[condition])])) == []
    assert problems_of(automation(triggers=[trigger(conditions=[tag_condition(), without])])) == [
        (f"triggers[0].conditions[1].{subject}", message)
    ]
    assert problems_of(automation(flow=[branch(conditions=[without])])) == [
        (f"flow[0].conditions[0].{subject}", message)
    ]
    assert problems_of(automation(exits=[exit_on(filters=[without])])) == [
        (f"exits[0].filters[0].{subject}", message)
    ]


RE2_HINT = "Patterns use RE2 syntax, which has no look-arounds or back-references."
CONDITION_VALUE_CASES = [
    case(
        "regex that compiles",
        automation(flow=[branch(conditions=[{"type": "email_is", "value": r"^(kate|katerina)@gmail\.com$", "regex": True}])]),
    ),
    case(
        "regex with an unclosed group",
        automation(flow=[branch(conditions=[{"type": "email_is", "value": "^(kate", "regex": True}])]),
        (
            "flow[0].conditions[0].value",
            f"This is not a valid regular expression (missing ): ^(kate). {RE2_HINT}",
        ),
    ),
    case(
        "regex with a look-ahead",
        automation(triggers=[trigger(conditions=[{"type": "email_is", "value": "(?=a)", "regex": True}])]),
        (
            "triggers[0].conditions[0].value",
            f"This is not a valid regular expression (invalid perl operator: (?=). {RE2_HINT}",
        ),
    ),
    case(
        "the same text as a plain value",
        automation(flow=[branch(conditions=[{"type": "email_is", "value": "^(kate"}])]),
    ),
    case(
        "a catastrophic-backtracking pattern is fine under RE2",
        automation(flow=[branch(conditions=[{"type": "email_is", "value": "(a+)+$", "regex": True}])]),
    ),
    case(
        "date-only comparison date",
        automation(flow=[branch(conditions=[{"type": "field_date_before", "field": "born", "date": "2000-01-01"}])]),
    ),
    case(
        "date that does not parse",
        automation(flow=[branch(conditions=[{"type": "field_date_after", "field": "born", "date": "March"}])]),
        (
            "flow[0].conditions[0].date",
            "'March' is not a date; write it as 2027-03-01 or 2027-03-01T09:00:00+00:00.",
        ),
    ),
    case(
        "registration moment without an offset",
        automation(triggers=[trigger(conditions=[{"type": "registered_after", "at": "2027-01-01T00:00:00"}])]),
        (
            "triggers[0].conditions[0].at",
            "Add a UTC offset to this date and time (for example 2027-03-01T09:00:00Z) so it "
            "means the same moment everywhere.",
        ),
    ),
]


@pytest.mark.parametrize("document, expected", CONDITION_VALUE_CASES)
def test_condition_values(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- the other waits


def one_wait(**step) -> dict:
    return automation(flow=[email(), step])


HH_MM = "on a 24-hour clock, for example 09:30 or 18:00."
WAIT_CASES = [
    case("known timezone", one_wait(type="wait_duration", amount=1, timezone="Europe/Berlin")),
    case(
        "misspelt timezone",
        one_wait(type="wait_duration", amount=1, timezone="Europe/Berln"),
        (
            "flow[1].timezone",
            "'Europe/Berln' is not a timezone we know; use a name such as Europe/London, "
            "America/New_York or UTC.",
        ),
    ),
    case(
        "the host's localtime",
        one_wait(type="wait_until_time_of_day", time="09:00", timezone="localtime"),
        (
            "flow[1].timezone",
            "'localtime' is not a timezone we know; use a name such as Europe/London, "
            "America/New_York or UTC.",
        ),
    ),
    case("00:00", one_wait(type="wait_until_time_of_day", time="00:00")),
    case("23:59", one_wait(type="wait_until_time_of_day", time="23:59")),
    case(
        "24:00",
        one_wait(type="wait_until_time_of_day", time="24:00"),
        ("flow[1].time", f"'24:00' is not a time of day; write it as HH:MM {HH_MM}"),
    ),
    case(
        "09:60",
        one_wait(type="wait_until_time_of_day", time="09:60"),
        ("flow[1].time", f"'09:60' is not a time of day; write it as HH:MM {HH_MM}"),
    ),
    case(
        "9:30",
        one_wait(type="wait_until_weekday", weekday="monday", time="9:30"),
        ("flow[1].time", f"'9:30' is not a time of day; write it as HH:MM {HH_MM}"),
    ),
    case(
        "weekday without day or time",
        one_wait(type="wait_until_weekday"),
        ("flow[1].weekday", "Choose the day of the week to wait for."),
        ("flow[1].time", "Enter the time of day, as HH:MM."),
    ),
    case("local date and time", one_wait(type="wait_until_datetime", at="2027-03-01T09:00")),
    case("a date only", one_wait(type="wait_until_datetime", at="2027-03-01")),
    case(
        "date and time with an offset",
        one_wait(type="wait_until_datetime", at="2027-03-01T09:00+02:00"),
        (
            "flow[1].at",
            "Leave the UTC offset out of '2027-03-01T09:00+02:00': the step's timezone says "
            "where this time is read.",
        ),
    ),
    case(
        "a date that does not parse",
        one_wait(type="wait_until_datetime", at="2027-02-30T09:00"),
        ("flow[1].at", "'2027-02-30T09:00' is not a date and time; write it as 2027-03-01T09:00."),
    ),
    case(
        "no date",
        one_wait(type="wait_until_datetime"),
        ("flow[1].at", "Enter the date and time to wait until."),
    ),
    case("field duration", one_wait(type="wait_field_duration", field="trial_days")),
    case(
        "field duration without a field",
        one_wait(type="wait_field_duration", field=""),
        ("flow[1].field", "Enter the name of the profile field this wait reads."),
    ),
    case(
        "field date without a field",
        one_wait(type="wait_field_date"),
        ("flow[1].field", "Enter the name of the profile field this wait reads."),
    ),
    case("run 1 minute before", one_wait(type="wait_field_date", field="f", before={"amount": 1, "unit": "minutes"})),
    case("run 365 days before", one_wait(type="wait_field_date", field="f", before={"amount": 365, "unit": "days"})),
    case(
        "run 0 days before",
        one_wait(type="wait_field_date", field="f", before={"amount": 0}),
        ("flow[1].before.amount", "'Run before the moment' needs a positive offset (at least 1)."),
    ),
    case(
        "run -3 days before",
        one_wait(type="wait_field_date", field="f", before={"amount": -3}),
        ("flow[1].before.amount", "'Run before the moment' needs a positive offset (at least 1)."),
    ),
    case(
        "run 53 weeks before",
        one_wait(type="wait_field_date", field="f", before={"amount": 53, "unit": "weeks"}),
        ("flow[1].before.amount", "'Run before the moment' can be at most 365 days; this one is 53 weeks."),
    ),
]


@pytest.mark.parametrize("document, expected", WAIT_CASES)
def test_wait_settings(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- ids and identity

ID_CASES = [
    case("no ids at all (assigned on save)", automation(flow=[email(), branch(yes=[email()])])),
    case(
        "distinct ids",
        automation(
            triggers=[trigger(id="t1")],
            flow=[{**email(), "id": "s1"}, {**branch(yes=[{**email(), "id": "s3"}]), "id": "s2"}],
            exits=[exit_on(id="x1")],
        ),
    ),
    case(
        "a step id used twice, once inside a branch",
        automation(flow=[{**email(), "id": "s1"}, {**branch(yes=[{**email(), "id": "s1"}]), "id": "s2"}]),
        (
            "flow[1].yes[0].id",
            "The id 's1' is already used at flow[0]; ids must be unique within an automation.",
        ),
    ),
    case(
        "a trigger and an exit sharing an id",
        automation(triggers=[trigger(id="a")], exits=[exit_on(id="a")]),
        ("exits[0].id", "The id 'a' is already used at triggers[0]; ids must be unique within an automation."),
    ),
    case(
        "blank name and school",
        automation(name=" ", school=""),
        ("school", "Say which school the automation belongs to."),
        ("name", "Give the automation a name."),
    ),
]


@pytest.mark.parametrize("document, expected", ID_CASES)
def test_ids_and_identity(document, expected):
    check(document, expected)


# ---------------------------------------------------------------- all at once


def test_every_problem_is_reported_at_once_in_document_order():
    document = automation(
        triggers=[trigger("user.inactive")] * 11,
        flow=[wait(4, "minutes"), wait(366), branch(conditions=[], yes=[{"type": "add_tag"}])],
        exits=[exit_on(filters=[{"type": "has_tag"}])],
    )
    paths = [path for path, _ in problems_of(document)]
    assert paths == [
        "triggers",
        *["triggers[%d].days" % i for i in range(11)],
        "flow[0].amount",
        "flow[1].amount",
        "flow[2].conditions",
        "flow[2].yes[0].tag",
        "flow[1]",
        "exits[0].filters[0].tag",
    ]


def test_unknown_keys_are_reported_with_every_rule_problem():
    document = automation(
        triggers=[{**trigger("user.registered"), "colour": "red"}],
        flow=[{**wait(4, "minutes"), "note": "x"}, wait(366), branch(conditions=[], yes=[email()])],
    )
    parsed, found = validate_document(document)
    problems = {p.path: p.message for p in found}

    assert parsed is None, "not readable as written"
    assert "Unknown setting" in problems["triggers[0].colour"] and "flow[0].note" in problems
    assert {"flow[1].amount", "flow[2].conditions"} <= set(problems), problems
    assert "flow[0].amount" not in problems, "beside an unknown key: likely its consequence, left out"


def test_a_wrong_type_still_stops_the_rules():
    document = automation(flow=[{**wait(4, "minutes"), "amount": "soon"}, wait(366)])

    assert [p.path for p in validate_document(document)[1]] == ["flow[0].amount"]


@pytest.mark.parametrize(
    "document, path, message",
    [
        (automation(flow=[wait(True), email()]), "flow[0].amount", "Expected a whole number here, found true"),
        (automation(flow=[wait("10"), email()]), "flow[0].amount", "Expected a whole number here, found the text '10'"),
        (automation(triggers=[trigger("assessment.submitted", passed=1)]), "triggers[0].passed",
         "Expected true or false here, found the number 1"),
        (automation(triggers=[trigger("user.inactive", days="3")]), "triggers[0].days", "Expected a whole number"),
        (automation(triggers=[trigger(conditions=[{"type": "field_greater", "field": "age", "value": "18"}])]),
         "triggers[0].conditions[0].value", "Expected a number here, found the text '18'"),
    ],
)
def test_numbers_and_true_false_are_taken_as_written_like_the_json_schema_says(document, path, message):
    parsed, problems = validate_document(document)
    assert parsed is None and [p.path for p in problems] == [path] and message in problems[0].message


def test_a_problem_reads_as_path_then_sentence():
    assert str(Problem(path="flow[0].amount", message="Enter how long to wait.")) == (
        "flow[0].amount: Enter how long to wait."
    )
