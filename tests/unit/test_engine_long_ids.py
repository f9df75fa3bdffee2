"""Ids that are each valid at the edge can make the engine's own derived event
ids longer than the edge allows; that must never crash the worker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.catalog import Catalog
from engine.commands import FireTimer, HandleSchoolEvent
from engine.decider import handle
from engine.definitions import Automation
from engine.events import TimerScheduled
from engine.learner import LearnerState
from engine.school_events import MAX_ID_LENGTH, SchoolEvent

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
SCHOOL, USER = "s" * MAX_ID_LENGTH, "u" * MAX_ID_LENGTH
LONG_STEP = "step-" + "x" * 300


def test_an_inactivity_event_for_long_school_and_user_ids_starts_its_run():
    automation = Automation.model_validate({
        "id": "quiet", "school": SCHOOL, "name": "Quiet", "status": "active",
        "activated_at": T0 - timedelta(days=1),
        "triggers": [{"id": "t", "event": "user.inactive", "days": 1}],
        "flow": [{"id": "nudge", "type": "send_email", "template": "miss-you"}],
    })
    catalog = Catalog.of([automation])
    active = SchoolEvent(id="e1", type="user.activity", school=SCHOOL, user=USER, occurred_at=T0, data={})
    first = handle(HandleSchoolEvent(event=active), LearnerState.new(SCHOOL, USER), catalog, T0)
    (timer,) = [e.timer for e in first.events if isinstance(e, TimerScheduled)]

    fired = handle(FireTimer(timer=timer), first.state, catalog, timer.due_at)

    assert fired.rejected is None
    assert [e.type for e in fired.events].count("run_started") == 1


def test_an_action_step_with_a_long_id_derives_its_learner_event():
    automation = Automation.model_validate({
        "id": "tagger", "school": "s1", "name": "Tagger", "status": "active",
        "activated_at": T0 - timedelta(days=1),
        "triggers": [{"id": "t", "event": "lesson.completed"}],
        "flow": [{"id": LONG_STEP, "type": "add_tag", "tag": "busy"}],
    })
    event = SchoolEvent(id="e1", type="lesson.completed", school="s1", user="u1", occurred_at=T0,
                        data={"course": "c", "lesson": "l"})

    outcome = handle(HandleSchoolEvent(event=event), LearnerState.new("s1", "u1"), Catalog.of([automation]), T0)

    assert "busy" in outcome.state.tags
