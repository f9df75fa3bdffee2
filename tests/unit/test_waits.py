"""Given/when/then tests of engine.waits: the YAML scenarios in scenarios/waits/
(one file per wait kind, each readable against the product guide), plus the
outcome models and the never-crash promises that a table cannot express."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import pytest
from pydantic import TypeAdapter

from engine.definitions import (
    WAIT_TYPES,
    RunBefore,
    Step,
    WaitDuration,
    WaitFieldDate,
    WaitFieldDuration,
    WaitUntilTimeOfDay,
)
from engine.local_time import load_zone
from engine.values import as_json, from_json
from engine.waits import ContinueNow, EndRun, FailRun, WaitResolution, WaitUntil, resolve_wait
from tests import strict_yaml

SCENARIOS = Path(__file__).parent / "scenarios" / "waits"
STEP = TypeAdapter(Step)
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
OUTCOMES = {"wait": WaitUntil, "continue": ContinueNow, "end": EndRun, "fail": FailRun}


def _scenarios():
    for path in sorted(SCENARIOS.glob("*.yaml")):
        for number, scenario in enumerate(strict_yaml.load(path.read_text()), start=1):
            yield pytest.param(scenario, id=f"{path.stem}#{number}: {scenario['name']}")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("scenario", list(_scenarios()))
def test_scenario(scenario):
    # given
    step = STEP.validate_python(scenario["given"]["step"])
    fields = scenario["given"].get("fields", {})
    # when
    outcome = resolve_wait(step, fields, _instant(scenario["when"]))
    # then
    ((kind, expected),) = scenario["then"].items()
    assert isinstance(outcome, OUTCOMES[kind]), f"1. expected {kind}, got {outcome!r}"
    if kind == "wait":
        assert outcome.due_at == _instant(expected), (
            f"2. due {outcome.due_at.isoformat()}, expected {expected} ({outcome.detail})"
        )
        assert outcome.due_at.tzinfo is timezone.utc, "3. due_at is not in UTC"
    else:
        text = outcome.error if kind == "fail" else outcome.reason
        missing = [part for part in expected if part not in text]
        assert not missing, f"4. {text!r} does not mention {missing}"
        assert "\n" not in text, "5. the message is not one line"


def test_scenario_files_cover_every_wait_kind():
    kinds = {
        scenario["given"]["step"]["type"]
        for path in SCENARIOS.glob("*.yaml")
        for scenario in strict_yaml.load(path.read_text())
    }
    assert kinds == {model.model_fields["type"].annotation.__args__[0] for model in WAIT_TYPES}


# ---------------------------------------------------------------- outcome models


def test_outcomes_round_trip_through_the_discriminated_union():
    outcomes = [
        WaitUntil(due_at=NOW, detail="3 days"),
        ContinueNow(reason="passed"),
        EndRun(reason="passed"),
        FailRun(error="bad field"),
    ]
    for outcome in outcomes:
        assert from_json(WaitResolution, json.loads(json.dumps(as_json(outcome)))) == outcome


def test_due_at_is_normalised_to_utc_and_must_be_aware():
    berlin = datetime(2027, 3, 1, 10, 0, tzinfo=load_zone("Europe/Berlin"))
    assert WaitUntil(due_at=berlin, detail="x").due_at == NOW
    assert WaitUntil(due_at=berlin, detail="x").due_at.tzinfo is timezone.utc
    with pytest.raises(ValueError, match="timezone-aware"):
        WaitUntil(due_at=datetime(2027, 3, 1, 9, 0), detail="x")


def test_outcomes_are_frozen():
    outcome = FailRun(error="x")
    with pytest.raises(AttributeError):
        outcome.error = "y"


# ---------------------------------------------------------------- the `now` argument


def test_now_in_any_offset_gives_the_same_answer():
    step = WaitUntilTimeOfDay(
        type="wait_until_time_of_day", id="w1", time="17:00", timezone="Europe/Berlin"
    )
    kolkata = NOW.astimezone(load_zone("Asia/Kolkata"))
    assert resolve_wait(step, {}, kolkata) == resolve_wait(step, {}, NOW)


def test_a_naive_now_is_a_programming_error():
    step = WaitDuration(type="wait_duration", id="w1", amount=5, unit="minutes")
    with pytest.raises(ValueError, match="aware"):
        resolve_wait(step, {}, datetime(2027, 3, 1, 9, 0))


# ---------------------------------------------------------------- never crash


@pytest.mark.parametrize("model", WAIT_TYPES, ids=lambda model: model.__name__)
def test_a_step_with_every_parameter_missing_fails_naming_the_step(model):
    bare = model(type=model.model_fields["type"].annotation.__args__[0], id="w9")
    outcome = resolve_wait(bare, {}, NOW)
    # A bare field-date step still needs its field; every other bare step lacks its parameter.
    assert isinstance(outcome, FailRun), outcome
    assert outcome.error.startswith("wait step w9: ")


def test_a_step_without_an_id_still_gets_a_readable_error():
    step = WaitFieldDuration(type="wait_field_duration", field="days")
    assert resolve_wait(step, {}, NOW).error.startswith("wait step (no id): field 'days'")


def test_fields_may_be_any_mapping():
    step = WaitFieldDuration(type="wait_field_duration", id="w1", field="days", unit="hours")
    outcome = resolve_wait(step, MappingProxyType({"days": "2"}), NOW)
    assert outcome == WaitUntil(due_at=NOW + timedelta(hours=2), detail=outcome.detail)


def test_a_multi_line_field_value_is_shown_on_one_line():
    step = WaitFieldDate(type="wait_field_date", id="w1", field="date")
    outcome = resolve_wait(step, {"date": "2027-05-01\nDROP TABLE"}, NOW)
    assert isinstance(outcome, FailRun)
    assert "\n" not in outcome.error and "'2027-05-01\\nDROP TABLE'" in outcome.error


def test_a_very_long_field_value_is_cut_short_in_the_error():
    step = WaitFieldDuration(type="wait_field_duration", id="w1", field="days")
    outcome = resolve_wait(step, {"days": "x" * 10_000}, NOW)
    assert isinstance(outcome, FailRun) and len(outcome.error) < 300


def test_a_huge_integer_field_fails_without_printing_it():
    step = WaitFieldDuration(type="wait_field_duration", id="w1", field="days")
    outcome = resolve_wait(step, {"days": 10**5000}, NOW)
    assert isinstance(outcome, FailRun) and "more than 365 days" in outcome.error


def test_a_huge_run_before_offset_fails_instead_of_overflowing():
    step = WaitFieldDate(
        type="wait_field_date", id="w1", field="date", if_passed="next_occurrence",
        before=RunBefore(amount=10**12, unit="weeks"),
    )
    outcome = resolve_wait(step, {"date": "2027-05-01"}, NOW)
    assert isinstance(outcome, FailRun) and "outside the calendar" in outcome.error


# ---------------------------------------------------------------- zones


@pytest.mark.parametrize("key", ["", "America", "../etc/passwd", "europe/berlin", " UTC", None, 3])
def test_load_zone_treats_odd_keys_as_unknown(key):
    assert load_zone(key) is None


def test_load_zone_reads_the_pinned_tzdata_once():
    assert load_zone("Europe/Berlin") is load_zone("Europe/Berlin")
    assert load_zone("Europe/Berlin").key == "Europe/Berlin"
