"""decide / evolve / handle as a contract: folding, determinism, stale timers, traces, bounds."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from engine import events as e
from engine.catalog import Catalog
from engine.commands import FireTimer, HandleSchoolEvent, ReplayRun, Timer
from engine.decider import Rejected, decide, evolve, handle
from engine.definitions import Automation
from engine.learner import LearnerState
from engine.runs import RECENT_FINISHED_KEPT, IllegalTransition
from engine.school_events import SchoolEvent
from engine.evolve import APPLIERS
from engine.simulation import simulate
from engine.values import as_dict, as_json, from_json, replace
from processors.learner_state_format import decode_state, encode_state
from console.simulate import as_jsonl, load_definitions
from tests.unit.engine_scenarios import EXAMPLE_AUTOMATIONS

T0 = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


def automation(**fields) -> Automation:
    base = {"id": "a", "school": "s", "name": "a", "status": "active", "activated_at": T0 - timedelta(days=30)}
    return Automation.model_validate({**base, **fields})


DRIP = automation(
    id="drip",
    triggers=[{"id": "t", "event": "course.enrolled", "conditions": [{"type": "lacks_tag", "tag": "vip"}]}],
    flow=[
        {"id": "w", "type": "wait_duration", "amount": 1, "unit": "days"},
        {"id": "m", "type": "send_email", "template": "hi"},
    ],
    exits=[{"id": "x", "event": "course.completed", "filters": [{"type": "field_equals", "field": "plan", "value": "pro"}]}],
)


def event(event_type: str, at: datetime, user: str = "u", event_id: str = "e1", **data) -> SchoolEvent:
    return SchoolEvent(id=event_id, type=event_type, school="s", user=user, occurred_at=at, data=data)


def fold(state: LearnerState, events) -> LearnerState:
    for item in events:
        state = evolve(state, item)
    return state


def test_handle_is_decide_then_fold():
    catalog = Catalog.of([DRIP])
    state = LearnerState.new("s", "u")
    command = HandleSchoolEvent(event=event("course.enrolled", T0, course="c"))
    decided = decide(command, state, catalog, T0)
    outcome = handle(command, state, catalog, T0)
    assert outcome.events == decided and outcome.rejected is None
    assert fold(state, decided) == outcome.state
    assert [type(x).__name__ for x in decided] == [
        "LearnerUpdated", "RunStarted", "StepRecorded", "TimerScheduled", "RunStatusChanged",
    ]


def test_a_command_for_another_learner_is_rejected_with_a_reason():
    outcome = handle(HandleSchoolEvent(event=event("course.enrolled", T0, user="other", course="c")),
                     LearnerState.new("s", "u"), Catalog.of([DRIP]), T0)
    assert isinstance(outcome.rejected, Rejected) and "s:other" in outcome.rejected.reason
    assert outcome.events == [] and outcome.state == LearnerState.new("s", "u")


def _enrolled():
    catalog = Catalog.of([DRIP])
    outcome = handle(HandleSchoolEvent(event=event("course.enrolled", T0, course="c")), LearnerState.new("s", "u"), catalog, T0)
    (timer,) = [x.timer for x in outcome.events if isinstance(x, e.TimerScheduled)]
    return catalog, outcome.state, timer


def test_handle_leaves_the_state_it_was_given_as_it_was():
    catalog, state, timer = _enrolled()
    runs, dumped = dict(state.runs), as_dict(state)
    fired = handle(FireTimer(timer=timer), state, catalog, timer.due_at)  # resumes, sends, finishes the run
    again = handle(HandleSchoolEvent(event=event("course.enrolled", T0, event_id="e2", course="d")), state, catalog, T0)
    assert as_dict(state) == dumped and state.runs == runs
    assert fired.state.runs == {} and len(fired.state.finished) == 1
    assert len(again.state.runs) == 1  # the 60-second rule: the second enrollment is skipped
    assert again.state.skipped_runs
    assert evolve(state, e.ExitChecked(run_id="r", automation_id="a", exit_id=None, event_id="e", matched=False, at=T0)) is state


def test_a_timer_fires_once_and_a_stale_copy_decides_nothing():
    catalog, state, timer = _enrolled()
    fired = handle(FireTimer(timer=timer), state, catalog, timer.due_at + timedelta(seconds=3))
    assert fired.state.finished[-1].status == "fulfilled"
    (record,) = [x for x in fired.events if isinstance(x, e.TimerFired)]
    assert record.lateness_seconds == 3
    assert decide(FireTimer(timer=timer), fired.state, catalog, timer.due_at) == []


def test_a_timer_whose_due_time_lost_its_microseconds_still_fires():
    catalog, state, timer = _enrolled()
    truncated = replace(timer, due_at=timer.due_at.replace(microsecond=0))
    state = replace(state, runs={
        k: replace(r, timer=replace(r.timer, due_at=r.timer.due_at + timedelta(microseconds=400)))
        for k, r in state.runs.items()})
    assert any(isinstance(x, e.TimerFired) for x in decide(FireTimer(timer=truncated), state, catalog, truncated.due_at))


def test_the_same_event_delivered_twice_starts_one_run():
    catalog, state, _ = _enrolled()
    again = handle(HandleSchoolEvent(event=event("course.enrolled", T0, course="c")), state, catalog, T0 + timedelta(minutes=5))
    assert not any(isinstance(x, e.RunStarted) for x in again.events)


def test_traces_show_the_values_seen():
    catalog = Catalog.of([DRIP])
    state = handle(HandleSchoolEvent(event=event("user.registered", T0, event_id="r", fields={"plan": "free"})),
                   LearnerState.new("s", "u"), catalog, T0).state
    started = handle(HandleSchoolEvent(event=event("course.enrolled", T0, event_id="e2", course="c")), state, catalog, T0)
    (run_started,) = [x for x in started.events if isinstance(x, e.RunStarted)]
    assert run_started.trace[0]["conditions"][0] == {"type": "lacks_tag", "tag": "vip", "seen": False, "result": True}
    completed = handle(HandleSchoolEvent(event=event("course.completed", T0, event_id="e3", course="c")), started.state, catalog, T0)
    (check,) = [x for x in completed.events if isinstance(x, e.ExitChecked)]
    assert check.matched is False and check.trace["conditions"][0]["seen"] == "free"


def test_every_event_type_has_a_route_and_an_applier():
    for name in e.Event.__args__:
        assert e.route(name) in ("state", "actions", "delays", "run_status")  # an event's type is its class's
        assert name.type in APPLIERS


def test_an_illegal_move_in_a_log_fails_loudly():
    catalog, state, timer = _enrolled()
    (run_id,) = state.runs
    done = e.RunStatusChanged(run_id=run_id, school="s", user="u", automation_id="drip", status="fulfilled", at=T0)
    with pytest.raises(IllegalTransition):
        evolve(state, done)  # a pending run cannot finish without resuming first


def test_finished_runs_and_recent_starts_stay_bounded():
    quick = automation(id="quick", triggers=[{"id": "t", "event": "lesson.completed"}], flow=[{"id": "m", "type": "send_email", "template": "x"}])
    catalog = Catalog.of([quick])
    state = LearnerState.new("s", "u")
    for number in range(RECENT_FINISHED_KEPT + 20):
        at = T0 + timedelta(minutes=2 * number)
        state = handle(HandleSchoolEvent(event=event("lesson.completed", at, event_id=f"l{number}", course="c", lesson="l")), state, catalog, at).state
    assert len(state.finished) == RECENT_FINISHED_KEPT and len(state.last_started) == 1
    replay = handle(ReplayRun(run_id=state.finished[0].id, command_id="c1"), state, catalog, T0 + timedelta(days=1))
    assert replay.rejected is None


def test_state_survives_a_json_round_trip():
    catalog, state, _ = _enrolled()
    state = handle(HandleSchoolEvent(event=event("user.activity", T0, event_id="a1", kind="login")), state,
                   Catalog.of([DRIP, automation(id="idle", triggers=[{"id": "t", "event": "user.inactive", "days": 3}])]), T0).state
    assert state.inactivity_timers
    assert decode_state(encode_state(state)) == state
    assert from_json(LearnerState, json.loads(json.dumps(as_json(state)))) == state


def _random_events(seed: int, count: int) -> list[SchoolEvent]:
    rng = random.Random(seed)
    kinds = [("user.activity", {"kind": "login"}), ("course.enrolled", {"course": "python-101"}),
             ("user.tag_added", {"tag": "new-student"}), ("user.tag_removed", {"tag": "new-student"}),
             ("user.tag_added", {"tag": "python-101-started"}), ("course.completed", {"course": "python-101"}),
             ("course.unenrolled", {"course": "python-101"}), ("certificate.issued", {"certificate": "c"}),
             ("user.updated", {"fields": {"certificate_expires_on": "2027-06-01"}}), ("lesson.completed", {"course": "python-101", "lesson": "l"})]
    at = T0
    result = []
    for number in range(count):
        at += timedelta(minutes=rng.randint(0, 600))
        kind, data = rng.choice(kinds)
        subject = "user" if rng.random() > 0.05 else "lead"
        result.append(SchoolEvent(id=f"r{number}", type=kind, school="demo-school", user=f"u{rng.randint(1, 40)}",
                                  subject=subject, occurred_at=at, data=data))
    return result


def test_a_long_random_sequence_gives_identical_output_twice():
    automations = load_definitions([EXAMPLE_AUTOMATIONS])
    events = _random_events(seed=7, count=3000)
    first = simulate(automations, events, T0 + timedelta(days=400))
    second = simulate(automations, list(events), T0 + timedelta(days=400))
    assert as_jsonl(first) == as_jsonl(second)
    statuses = {run.status for run in first.runs}
    assert {"fulfilled", "completed_via_exit"} <= statuses and len(first.runs) > 100


def test_a_waiting_run_whose_automation_vanished_fails_silently():
    _, state, timer = _enrolled()
    outcome = handle(FireTimer(timer=timer), state, Catalog.of([]), timer.due_at)
    assert outcome.state.finished[-1].status == "failed_silently"
    assert "drip no longer exists" in outcome.state.finished[-1].reason


def test_lead_events_decide_nothing_and_leave_no_state():
    lead = SchoolEvent(id="l", type="course.enrolled", school="s", user="u", subject="lead", occurred_at=T0, data={"course": "c"})
    state = LearnerState.new("s", "u")
    assert decide(HandleSchoolEvent(event=lead), state, Catalog.of([DRIP]), T0) == []


def test_the_loop_guard_is_recorded():
    chain = [automation(id=f"a{i}", triggers=[{"id": "t", "event": "user.tag_added", "tag": f"t{i}"}],
                        flow=[{"id": "next", "type": "add_tag", "tag": f"t{i + 1}"}]) for i in range(1, 8)]
    decided = decide(HandleSchoolEvent(event=event("user.tag_added", T0, tag="t1")), LearnerState.new("s", "u"), Catalog.of(chain), T0)
    (stopped,) = [x for x in decided if isinstance(x, e.DerivedEventStopped)]
    assert stopped.event_type == "user.tag_added" and len(stopped.cause) == 6
    assert [x.automation_id for x in decided if isinstance(x, e.RunStarted)] == [f"a{i}" for i in range(1, 7)]


def test_an_inactivity_timer_fired_after_new_activity_re_arms_itself():
    idle = automation(id="idle", triggers=[{"id": "t", "event": "user.inactive", "days": 2}], flow=[{"id": "m", "type": "send_email", "template": "x"}])
    catalog = Catalog.of([idle])
    state = handle(HandleSchoolEvent(event=event("user.activity", T0, event_id="a1", kind="login")), LearnerState.new("s", "u"), catalog, T0).state
    (due,) = state.inactivity_timers.values()
    later = T0 + timedelta(days=1)
    state = handle(HandleSchoolEvent(event=event("user.activity", later, event_id="a2", kind="login")), state, catalog, later).state
    assert state.inactivity_timers == {2: due}  # activity does not move the pending timer
    timer = Timer(id="inactive:s:u:2", school="s", user="u", kind="inactivity", due_at=due, days=2)
    fired = handle(FireTimer(timer=timer), state, catalog, due)
    assert [type(x).__name__ for x in fired.events] == ["TimerFired", "TimerScheduled"]
    assert fired.state.inactivity_timers == {2: later + timedelta(days=2)}
    assert decide(FireTimer(timer=timer), fired.state, catalog, due) == []  # the old one is stale now
