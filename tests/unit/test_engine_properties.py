"""Properties: no learner value crashes a condition; any event sequence folds consistently and never raises."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from console.simulate import load_definitions
from engine import definitions as d
from engine.catalog import Catalog
from engine.commands import FireTimer, HandleSchoolEvent
from engine.conditions import evaluate, holds
from engine.decider import decide, evolve, handle
from engine.learner import LearnerState
from engine.school_events import SchoolEvent
from tests.unit.engine_scenarios import EXAMPLE_AUTOMATIONS

T0 = datetime(2027, 3, 1, tzinfo=timezone.utc)
values = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.floats(allow_nan=True), st.booleans())
CONDITIONS = [
    d.FieldEquals(type="field_equals", field="f", value="x"),
    d.FieldEquals(type="field_equals", field="f", value=3),
    d.FieldContains(type="field_contains", field="f", value="a"),
    d.FieldGreater(type="field_greater", field="f", value=2.5),
    d.FieldLess(type="field_less", field="f", value=2.5),
    d.FieldIsEmpty(type="field_is_empty", field="f"),
    d.FieldIsSet(type="field_is_set", field="f"),
    d.FieldDateBefore(type="field_date_before", field="f", date="2027-01-01"),
    d.FieldDateAfter(type="field_date_after", field="f", date="2027-01-01T10:00:00+02:00"),
    d.EmailIs(type="email_is", value="^a.*", regex=True),
    d.EmailIs(type="email_is", value="(unclosed", regex=True),
    d.EmailContains(type="email_contains", value="@"),
    d.RegisteredBefore(type="registered_before", at=T0),
    d.HasTag(type="has_tag"),
]


@given(value=values, email=st.one_of(st.none(), st.text(max_size=20)))
def test_no_field_or_email_value_breaks_a_condition(value, email):
    state = LearnerState(school="s", user="u", email=email, fields={"f": value})
    for condition in CONDITIONS:
        result, _ = holds(condition, state)
        assert isinstance(result, bool)
    outcome, trace = evaluate(CONDITIONS, "any", state)
    assert trace["result"] is outcome and len(trace["conditions"]) == len(CONDITIONS)


CATALOG = Catalog.of(
    a.model_copy(update={"status": "active", "activated_at": T0}) for a in load_definitions([EXAMPLE_AUTOMATIONS])
)
KINDS = [
    ("user.registered", st.fixed_dictionaries({"email": st.sampled_from(["a@b.c", "x"]), "fields": st.dictionaries(st.sampled_from(["certificate_expires_on", "plan"]), values, max_size=2)})),
    ("user.tag_added", st.fixed_dictionaries({"tag": st.sampled_from(["new-student", "python-101-started", "renewed", "x"])})),
    ("user.tag_removed", st.fixed_dictionaries({"tag": st.sampled_from(["new-student", "x"])})),
    ("course.enrolled", st.fixed_dictionaries({"course": st.sampled_from(["python-101", "js"])})),
    ("course.completed", st.fixed_dictionaries({"course": st.sampled_from(["python-101", "js"])})),
    ("certificate.issued", st.fixed_dictionaries({"certificate": st.just("c")})),
    ("user.activity", st.fixed_dictionaries({"kind": st.just("login")})),
]
steps = st.lists(
    st.tuples(st.sampled_from(range(len(KINDS))), st.integers(0, 5 * 24 * 60), st.booleans(), st.data()), min_size=1, max_size=25
)


@settings(max_examples=60)
@given(steps=steps)
def test_any_event_sequence_folds_to_handles_state(steps):
    state = LearnerState.new("demo-school", "u")
    now = T0
    timers = {}
    for number, (kind_index, minutes, fire_first, data) in enumerate(steps):
        now += timedelta(minutes=minutes)
        due = sorted((t for t in timers.values() if t.due_at <= now), key=lambda t: (t.due_at, t.id))
        commands = [(FireTimer(timer=t), max(t.due_at, T0)) for t in due] if fire_first else []
        kind, payload = KINDS[kind_index]
        event = SchoolEvent(id=f"e{number}", type=kind, school="demo-school", user="u", occurred_at=now, data=data.draw(payload))
        commands.append((HandleSchoolEvent(event=event), now))
        for command, at in commands:
            decided = decide(command, state, CATALOG, at)
            outcome = handle(command, state, CATALOG, at)
            assert outcome.rejected is None and decided == outcome.events
            folded = state
            for item in decided:
                folded = evolve(folded, item)
                if item.type == "timer_scheduled":
                    timers[item.timer.id] = item.timer
            assert folded == outcome.state
            state = outcome.state
