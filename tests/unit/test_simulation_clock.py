"""`simulate`'s clock (docs/engine.md, Simulation clock): timers due strictly before
the next event fire first; a timer due at the same instant as an event fires after it."""

from __future__ import annotations

from engine.definitions import Automation
from engine.school_events import parse_school_event
from engine.simulation import simulate

NUDGE = Automation.model_validate(
    {
        "id": "nudge",
        "school": "s",
        "name": "nudge",
        "status": "active",
        "triggers": [{"id": "t", "event": "course.enrolled"}],
        "flow": [
            {"id": "w", "type": "wait_duration", "amount": 1, "unit": "days"},
            {"id": "m", "type": "send_email", "template": "nudge"},
        ],
        "exits": [{"id": "done", "event": "course.completed"}],
    }
)


def _event(event_id: str, kind: str, at: str):
    return parse_school_event(
        {
            "id": event_id,
            "type": kind,
            "school": "s",
            "user": "u1",
            "subject": "user",
            "occurred_at": at,
            "data": {"course": "c"},
        }
    )


def _outcome(completed_at: str):
    result = simulate(
        [NUDGE],
        [_event("e1", "course.enrolled", "2027-03-01T09:00:00Z"), _event("e2", "course.completed", completed_at)],
    )
    (run,) = result.runs
    steps = [f"{h['step_id']}:{h['outcome']}" for h in run.history if h["kind"] == "step"]
    return run.status, run.exit_id, steps, [a.template for a in run.actions]


def test_a_timer_due_at_the_same_instant_as_an_event_fires_after_it():
    # The wait ends at 2027-03-02T09:00:00Z, the instant the exit event occurs: the
    # event is processed first, so the exit ends the run before the wait can move on.
    assert _outcome("2027-03-02T09:00:00Z") == ("completed_via_exit", "done", ["w:waiting"], [])


def test_a_timer_due_strictly_before_an_event_fires_first():
    assert _outcome("2027-03-02T09:00:00.001Z") == ("fulfilled", None, ["w:waiting", "w:waited", "m:done"], ["nudge"])


def test_the_clock_reads_utc_whatever_offset_an_event_carries():
    # given an enrollment at 10:00 +02:00 (08:00 UTC) and a completion a day later in UTC
    result = simulate(
        [NUDGE],
        [_event("e1", "course.enrolled", "2027-03-01T10:00:00+02:00"), _event("e2", "course.completed", "2027-03-02T07:59:00Z")],
    )
    # then the run's history runs forwards, every instant in UTC, and the wait ended at 08:00 UTC
    (run,) = result.runs
    instants = [h["at"] for h in run.history]
    assert instants == sorted(instants) and {at.utcoffset().total_seconds() for at in instants} == {0}
    assert run.status == "completed_via_exit"
    assert (run.ended_at.isoformat(), result.clock.isoformat()) == ("2027-03-02T07:59:00+00:00", "2027-03-02T07:59:00+00:00")
