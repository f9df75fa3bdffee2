"""Every shipped template validates and activates as shipped (the guide's common use cases)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from console.definitions import template_files
from engine.definitions import Branch, WaitFieldDate, is_wait, iter_steps
from engine.documents import load_document
from engine.lifecycle import (
    ActivateAutomation,
    AutomationActivated,
    AutomationSaved,
    DefinitionsState,
    SaveAutomation,
    decide,
    evolve,
)
from engine.validation import validate_document

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
TEMPLATES = template_files()


def test_the_guides_use_cases_are_all_shipped():
    assert set(TEMPLATES) >= {"onboarding", "inactivity", "certificate-expiry", "upsell"}


def read(name: str):
    raw = load_document(TEMPLATES[name].read_text(encoding="utf-8"), TEMPLATES[name].name)
    assert isinstance(raw, dict), raw
    automation, problems = validate_document(raw)
    assert problems == [], [str(p) for p in problems]
    return automation


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_a_template_saves_and_activates_as_shipped(name):
    automation = read(name)
    state = DefinitionsState()
    saved = decide(SaveAutomation(automation=automation, now=NOW), state)
    assert [type(e) for e in saved] == [AutomationSaved]
    state = evolve(state, saved[0])
    activated = decide(ActivateAutomation(automation_id=automation.id, now=NOW), state)
    assert activated == [AutomationActivated(automation_id=automation.id, at=NOW, version=2)]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_a_template_shows_the_advanced_features(name):
    automation = read(name)
    steps = [step for _, step in iter_steps(automation.flow)]
    assert automation.exits, "a goal-based template stops at its goal"
    assert any(isinstance(step, Branch) for step in steps)
    assert any(is_wait(step) and step.timezone != "UTC" for step in steps)
    assert TEMPLATES[name].read_text(encoding="utf-8").startswith("# "), "the first line summarises it"


def test_certificate_reminders_run_before_the_expiry_date_in_the_profile():
    waits = [s for _, s in iter_steps(read("certificate-expiry").flow) if isinstance(s, WaitFieldDate)]
    assert {w.field for w in waits} == {"certificate_expires_at"}
    assert [(w.before.amount, w.before.unit) for w in waits if w.before] == [(30, "days"), (1, "weeks")]
