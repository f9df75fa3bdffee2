"""Properties of reading and validating definitions, for inputs nobody thought of.

- Reading and validating never raise: arbitrary JSON, automation-shaped junk
  and arbitrary text all become a model or problems.
- Every automation the validator accepts survives the export round trip
  (JSON and YAML) unchanged, and its export is described by the JSON Schema.

The schema check runs a real JSON Schema validator (jsonschema, Draft 2020-12)
on every export, besides a walk that each exported key has its own property.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from hypothesis import strategies as st

from engine.definitions import Automation
from engine.documents import (
    CONDITION_TYPES,
    STEP_TYPES,
    DocumentProblem,
    Problem,
    dump_yaml,
    load_document,
    parse_automation,
)
from engine.json_schema import automation_json_schema
from engine.validation import validate_automation, validate_document

SCHEMA = automation_json_schema()
SCHEMA_VALIDATOR = Draft202012Validator(SCHEMA)
SETTINGS = settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- arbitrary and junk documents

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = [
    "id", "type", "amount", "unit", "timezone", "yes", "no", "conditions", "filters", "event",
    "tag", "course", "value", "regex", "time", "at", "before", "field", "days", "weekday",
    "if_passed", "match", "template", "date", "passed", "lesson",
]
PLAUSIBLE = st.sampled_from(
    [
        "minutes", "days", "weeks", "UTC", "Europe/Berlin", "Nowhere/City", "09:30", "24:00", "9:3",
        "2027-03-01", "2027-03-01T09:00", "2027-03-01T09:00Z", "(a", "^(a|b)$", "(?=x)", "",
        "user.inactive", "course.enrolled", "all", "any", "monday", "next_occurrence", "\ud800",
    ]
) | st.integers(min_value=-2, max_value=600_000) | st.sampled_from([0, 4, 5, 525600, 525601, 10**40])


def shaped(types: list[str], children) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"type": st.sampled_from(types) | st.text(max_size=3)},
        optional={"yes": children, "no": children, "conditions": st.lists(conditions, max_size=3)},
    ).flatmap(
        lambda base: st.dictionaries(st.sampled_from(KEYS[2:]), PLAUSIBLE | scalars, max_size=4).map(
            lambda extra: {**extra, **base}
        )
    )


conditions = st.deferred(lambda: shaped(list(CONDITION_TYPES), st.just([])))


def junk_steps(depth: int) -> st.SearchStrategy[list]:
    children = junk_steps(depth - 1) if depth else st.just([])
    return st.lists(shaped(list(STEP_TYPES), children), max_size=3)


matchers = st.dictionaries(st.sampled_from(KEYS), PLAUSIBLE | json_values, max_size=5).map(
    lambda m: {"event": "user.inactive", **m}
)
junk_automations = st.fixed_dictionaries(
    {"id": st.text(max_size=5), "school": st.text(max_size=5), "name": st.text(max_size=5)},
    optional={
        "triggers": st.lists(matchers, max_size=4),
        "flow": junk_steps(2),
        "exits": st.lists(matchers, max_size=3),
        "status": PLAUSIBLE,
    },
)


def assert_problems(problems) -> None:
    assert isinstance(problems, list)
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.message


@SETTINGS
@given(json_values)
def test_validating_arbitrary_json_never_raises(raw):
    automation, problems = validate_document(raw)
    assert_problems(problems)
    assert automation is not None or problems


@SETTINGS
@given(junk_automations)
def test_validating_automation_shaped_junk_never_raises(raw):
    automation, problems = validate_document(raw)
    assert_problems(problems)
    if automation is None:
        assert problems


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(["a.json", "a.yaml", "stdin"]))
def test_reading_arbitrary_text_never_raises(text, filename):
    result = load_document(text, filename)
    assert isinstance(result, (dict, DocumentProblem))


@SETTINGS
@given(junk_automations)
def test_yaml_we_write_reads_back_unchanged(raw):
    assert load_document(dump_yaml(raw), "a.yaml") == raw


# ---------------------------------------------------------------- valid automations

names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12).filter(str.strip)
timezones = st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
actions = st.one_of(
    st.builds(lambda t: {"type": "send_email", "template": t}, names),
    st.builds(lambda t: {"type": "add_tag", "tag": t}, names),
    st.builds(lambda c: {"type": "enroll_in_course", "course": c}, names),
    st.builds(lambda f, v: {"type": "set_field", "field": f, "value": v}, names, st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | names),
)
waits = st.one_of(
    st.builds(
        lambda unit, tz, data: {"type": "wait_duration", "unit": unit, "timezone": tz,
                                "amount": data.draw(st.integers(*{"minutes": (5, 525600), "hours": (1, 8760), "days": (1, 365)}[unit]))},
        st.sampled_from(["minutes", "hours", "days"]), timezones, st.data(),
    ),
    st.builds(lambda h, m, tz: {"type": "wait_until_time_of_day", "time": f"{h:02d}:{m:02d}", "timezone": tz},
              st.integers(0, 23), st.integers(0, 59), timezones),
    st.builds(lambda day, tz: {"type": "wait_until_weekday", "weekday": day, "time": "08:00", "timezone": tz},
              st.sampled_from(["monday", "sunday"]), timezones),
    st.builds(lambda dt, passed: {"type": "wait_until_datetime", "at": dt.isoformat(), "if_passed": passed},
              st.datetimes(), st.sampled_from(["continue", "end"])),
    st.builds(lambda f, n, unit: {"type": "wait_field_date", "field": f, "before": {"amount": n, "unit": unit}},
              names, st.integers(1, 52), st.sampled_from(["days", "weeks"])),
    st.builds(lambda f: {"type": "wait_field_duration", "field": f}, names),
)
valid_conditions = st.one_of(
    st.builds(lambda t: {"type": "has_tag", "tag": t}, names),
    st.builds(lambda v: {"type": "email_is", "value": v, "regex": True}, st.sampled_from([r"^kate@", r"(a+)+$", r"\.com$"])),
    st.builds(lambda f, v: {"type": "field_greater", "field": f, "value": v}, names, st.floats(allow_nan=False, allow_infinity=False)),
)


def segments(depth: int) -> st.SearchStrategy[list]:
    """Step lists in which a wait is always followed by an action, so no path has two waits in a row."""
    piece = st.one_of(
        actions.map(lambda a: [a]),
        st.tuples(waits, actions).map(list),
        *(
            [st.builds(
                lambda conds, yes, no: [{"type": "branch", "conditions": conds, "yes": yes, "no": no}],
                st.lists(valid_conditions, min_size=1, max_size=3), segments(depth - 1), segments(depth - 1),
            )]
            if depth
            else []
        ),
    )
    return st.lists(piece, max_size=3).map(lambda pieces: [step for p in pieces for step in p])


def numbered(steps: list, counter: list) -> list:
    out = []
    for step in steps:
        counter[0] += 1
        step = {**step, "id": f"s{counter[0]}"}
        if step["type"] == "branch":
            step = {**step, "yes": numbered(step["yes"], counter), "no": numbered(step["no"], counter)}
        out.append(step)
    return out


valid_documents = st.builds(
    lambda name, triggers, first, rest, exits: {
        "id": "auto-1",
        "school": "school-1",
        "name": name,
        "triggers": [{**t, "id": f"t{i}"} for i, t in enumerate(triggers)],
        "flow": numbered(first + rest, [0]),
        "exits": [{**e, "id": f"x{i}"} for i, e in enumerate(exits)],
    },
    names,
    st.lists(
        st.one_of(
            st.builds(lambda c: {"event": "course.completed", "course": c}, st.none() | names),
            st.builds(lambda d: {"event": "user.inactive", "days": d}, st.integers(1, 90)),
            st.builds(lambda cs: {"event": "user.registered", "conditions": cs}, st.lists(valid_conditions, max_size=3)),
        ),
        min_size=1, max_size=3,
    ),
    actions.map(lambda a: [a]),
    segments(2),
    st.lists(st.builds(lambda fs: {"event": "product.purchased", "filters": fs}, st.lists(valid_conditions, max_size=3)), max_size=3),
)


@SETTINGS
@given(valid_documents)
def test_generated_valid_automations_are_accepted(raw):
    automation, problems = validate_document(raw)
    assert problems == []
    assert automation is not None


@SETTINGS
@given(valid_documents)
def test_an_accepted_automation_survives_export_as_json_and_yaml(raw):
    automation, _ = validate_document(raw)
    exported = automation.model_dump(mode="json")
    from_json = parse_automation(load_document(json.dumps(exported), "a.json"))
    from_yaml = parse_automation(load_document(dump_yaml(exported), "a.yaml"))
    assert from_json == automation
    assert from_yaml == automation
    assert validate_automation(from_yaml) == []


@SETTINGS
@given(valid_documents)
def test_every_key_of_an_accepted_automation_is_in_the_json_schema(raw):
    automation, _ = validate_document(raw)
    schema = SCHEMA
    assert Automation.model_validate_json(automation.model_dump_json()) == automation
    exported = automation.model_dump(mode="json")
    errors = [error.message for error in SCHEMA_VALIDATOR.iter_errors(exported)]
    assert errors == []
    _assert_described(exported, schema, schema)


def _assert_described(value, node: dict, schema: dict) -> None:
    """A light walk of the schema: every key present in the export has a property for it."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    if "discriminator" in node and isinstance(value, dict):
        target = node["discriminator"]["mapping"][value["type"]]
        return _assert_described(value, {"$ref": target}, schema)
    if "anyOf" in node:
        if value is None:
            assert any(option.get("type") == "null" for option in node["anyOf"])
            return None
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return _assert_described(value, options[0], schema)
        return None
    if isinstance(value, dict):
        assert node.get("type") == "object"
        assert set(value) <= set(node["properties"]), set(value) - set(node["properties"])
        for key, item in value.items():
            _assert_described(item, node["properties"][key], schema)
    elif isinstance(value, list):
        assert node.get("type") == "array"
        for item in value:
            _assert_described(item, node["items"], schema)
    return None
