"""Ruling 15 under redelivery: an input the engine already decided, delivered
again later (a crash, or an operator reprocessing a partition), starts no run
it did not start the first time, even when the 60-second rule that skipped
it no longer applies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.catalog import Catalog
from engine.commands import HandleSchoolEvent
from engine.decider import handle
from engine.definitions import Automation
from engine.learner import LearnerState
from engine.school_events import SchoolEvent

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
AUTOMATION = Automation.model_validate({
    "id": "lesson-cheer", "school": "s1", "name": "Cheer every lesson", "status": "active",
    "activated_at": T0 - timedelta(days=1),
    "triggers": [{"id": "t1", "event": "lesson.completed", "course": "py"}],
    "flow": [{"id": "cheer", "type": "send_email", "template": "well-done"}],
})
CATALOG = Catalog.of([AUTOMATION])


def lesson(event_id: str, at: datetime) -> HandleSchoolEvent:
    return HandleSchoolEvent(event=SchoolEvent(
        id=event_id, type="lesson.completed", school="s1", user="u1", occurred_at=at,
        data={"course": "py", "lesson": event_id},
    ))


def types(events) -> list[str]:
    return [event.type for event in events]


def test_an_event_skipped_by_the_60_second_rule_stays_skipped_when_delivered_again():
    # given a run started by e1, and e2 skipped 20 s later (ruling 5)
    state = LearnerState.new("s1", "u1")
    first = handle(lesson("e1", T0), state, CATALOG, T0)
    second = handle(lesson("e2", T0 + timedelta(seconds=20)), first.state, CATALOG, T0 + timedelta(seconds=20))
    assert "run_started" in types(first.events)
    assert "run_skipped" in types(second.events) and "run_started" not in types(second.events)

    # when e2 is delivered again an hour later, outside the 60 s window
    later = T0 + timedelta(hours=1)
    again = handle(lesson("e2", T0 + timedelta(seconds=20)), second.state, CATALOG, later)

    # then it starts nothing and records no second skip
    assert "run_started" not in types(again.events)
    assert "run_skipped" not in types(again.events)


def test_an_event_that_started_a_run_starts_nothing_when_delivered_again():
    state = handle(lesson("e1", T0), LearnerState.new("s1", "u1"), CATALOG, T0).state
    again = handle(lesson("e1", T0), state, CATALOG, T0 + timedelta(hours=2))
    assert types(again.events).count("run_started") == 0
    assert types(again.events).count("action_emitted") == 0
