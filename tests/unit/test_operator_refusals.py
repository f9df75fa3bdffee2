"""The checks operator actions make at the edge (api.commands), before asking the engine.

Given a run as the projections show it and its automation as the definitions
show it, then a replay is refused for a run that is not pending, fulfilled or
failed, for an automation gone or finishing (the engine refuses those too),
and allowed otherwise; advancing is refused for a step the flow lacks (not
found) and for one that is no wait (not possible), each with its reason.
"""

from __future__ import annotations

from datetime import datetime, timezone

from api.commands import advance_refusal, missing_step, replay_refusal
from tests.unit.projection_world import automation
from projections.run_views import RunView

AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
NURTURE = automation("nurture", {"event": "course.enrolled"}, [
    {"id": "intro", "type": "send_email", "template": "intro"},
    {"id": "pause", "type": "wait_duration", "amount": 2, "unit": "days"},
    {"id": "nudge", "type": "send_email", "template": "nudge"},
])


def run(status: str) -> RunView:
    return RunView(run_id="run-1", school="s1", user="ada", automation_id="nurture", automation_version=1,
                   started_at=AT, status=status)


def test_a_replay_needs_a_replayable_status_and_an_automation_that_takes_runs():
    for status in ("pending", "fulfilled", "failed"):
        assert replay_refusal(run(status), NURTURE) is None, status
    for status in ("completed_via_exit", "cancelled", "failed_silently", "executing"):
        assert f"is {status}" in replay_refusal(run(status), NURTURE), status
    assert "no longer exists" in replay_refusal(run("failed"), None)
    finishing = NURTURE.model_copy(update={"status": "finishing"})
    assert "finishing" in replay_refusal(run("pending"), finishing)
    assert replay_refusal(run("pending"), NURTURE.model_copy(update={"status": "inactive"})) is None


def test_advancing_needs_a_wait_step_of_the_flow():
    assert advance_refusal(NURTURE, "pause") is None
    assert "not a wait" in advance_refusal(NURTURE, "intro") and missing_step(NURTURE, "intro") is None
    assert "has no step 'gone'" in advance_refusal(NURTURE, "gone") and missing_step(NURTURE, "gone")
