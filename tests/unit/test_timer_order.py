"""Timer order (docs/engine.md, Timer order): timers of one learner due at the same
instant fire in the order they were scheduled, in `simulate` as in the live worker.

First the simulator's queue on its own (engine.timer_queue), then whole
simulations where the order decides what happens: two runs waiting until the
same 09:00, and an inactivity timer re-armed onto a wait's instant. The clock
is the simulator's: it moves only to the events' and the timers' instants.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.commands import Timer
from engine.definitions import Automation
from engine.school_events import parse_school_event
from engine.simulation import simulate
from engine.timer_queue import TimerQueue

NINE = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
# Run ids are hashes, so learners' timer ids sort either way round: enough learners
# that both orders of the two runs' timer ids occur among them.
LEARNERS = [f"learner-{n}" for n in range(8)]


def _timer(timer_id: str, due_at: datetime, step: str = "w") -> Timer:
    return Timer(id=timer_id, school="s", user="u", kind="wait", due_at=due_at, run_id=f"run-{timer_id}", step_id=step)


def _fired(queue: TimerQueue, until: datetime) -> list[str]:
    fired = []
    while (timer := queue.pop_due(until, inclusive=True)) is not None:
        fired.append(timer.id)
    return fired


# ---------------------------------------------------------------- the queue


def test_timers_due_at_the_same_instant_fire_in_the_order_they_were_scheduled_not_by_id():
    # given three timers due at 09:00, scheduled z, a, m, and one due a minute earlier
    queue = TimerQueue()
    for timer_id in ("z", "a", "m"):
        queue.schedule(_timer(timer_id, NINE))
    queue.schedule(_timer("late-scheduled-early-due", NINE - timedelta(minutes=1)))
    # when the clock passes 09:00
    # then the earlier due time first, then the 09:00 ones as scheduled
    assert _fired(queue, NINE) == ["late-scheduled-early-due", "z", "a", "m"]


def test_the_same_instant_is_the_same_millisecond():
    # given a timer due half a millisecond after another one, but scheduled before it
    queue = TimerQueue()
    queue.schedule(_timer("first", NINE + timedelta(microseconds=500)))
    queue.schedule(_timer("second", NINE))
    # then both are due at 09:00:00.000, as the delay topic carries them: scheduling order
    assert _fired(queue, NINE) == ["first", "second"]


def test_a_timer_scheduled_again_under_the_same_id_and_due_time_keeps_its_first_position():
    # given a, b due at 09:00, then a scheduled again at 09:00 carrying another step
    queue = TimerQueue()
    queue.schedule(_timer("a", NINE))
    queue.schedule(_timer("b", NINE))
    queue.schedule(_timer("a", NINE, step="w2"))
    # then a still fires first, once, carrying what it was scheduled with last
    fired = []
    while (timer := queue.pop_due(NINE, inclusive=True)) is not None:
        fired.append((timer.id, timer.step_id))
    assert fired == [("a", "w2"), ("b", "w")]


def test_a_timer_moved_to_another_due_time_and_back_is_a_new_schedule():
    # given a, b due at 09:00; a moved to 10:00, then back to 09:00
    queue = TimerQueue()
    queue.schedule(_timer("a", NINE))
    queue.schedule(_timer("b", NINE))
    queue.schedule(_timer("a", NINE + timedelta(hours=1)))
    queue.schedule(_timer("a", NINE))
    # then a was scheduled at 09:00 after b: b first, and a fires once
    assert _fired(queue, NINE + timedelta(hours=2)) == ["b", "a"]


def test_a_timer_cancelled_and_scheduled_again_takes_a_new_position():
    # given a, b due at 09:00; a cancelled, then scheduled again at 09:00
    queue = TimerQueue()
    queue.schedule(_timer("a", NINE))
    queue.schedule(_timer("b", NINE))
    queue.cancel("a", NINE)
    queue.schedule(_timer("a", NINE))
    # then b was scheduled first
    assert _fired(queue, NINE) == ["b", "a"]


def test_a_cancellation_names_one_schedule_by_its_due_time():
    # given a due at 10:00, and a cancellation of a's earlier schedule at 09:00
    queue = TimerQueue()
    queue.schedule(_timer("a", NINE + timedelta(hours=1)))
    queue.cancel("a", NINE)
    # then the pending schedule stays; cancelling it by its own due time removes it
    assert list(queue) == ["a"]
    queue.cancel("a", NINE + timedelta(hours=1))
    assert len(queue) == 0 and _fired(queue, NINE + timedelta(days=1)) == []


def test_a_timer_fired_and_scheduled_again_at_the_same_instant_goes_after_those_pending():
    # given a and b due at 09:00, a fired, then a scheduled again at 09:00 (re-armed)
    queue = TimerQueue()
    queue.schedule(_timer("a", NINE))
    queue.schedule(_timer("b", NINE))
    assert queue.pop_due(NINE, inclusive=True).id == "a"
    queue.schedule(_timer("a", NINE))
    # then b, then a again
    assert _fired(queue, NINE) == ["b", "a"]


def test_a_limit_is_exclusive_unless_asked_and_in_milliseconds():
    queue = TimerQueue()
    queue.schedule(_timer("a", NINE))
    assert queue.pop_due(NINE, inclusive=False) is None
    assert queue.pop_due(NINE + timedelta(microseconds=999), inclusive=False) is None
    assert queue.pop_due(NINE + timedelta(milliseconds=1), inclusive=False).id == "a"


# ---------------------------------------------------------------- simulations


def _automation(raw: dict) -> Automation:
    return Automation.model_validate({"school": "s", "name": raw["id"], "status": "active", **raw})


def _on_tag(tag: str) -> dict:
    return {"id": "t", "event": "user.tag_added", "tag": tag}


# The reproduction of the timer-order issue: ra's tag ends rb through rb's exit.
RA = _automation({
    "id": "ra",
    "triggers": [_on_tag("start-a")],
    "flow": [
        {"id": "nine", "type": "wait_until_time_of_day", "time": "09:00"},
        {"id": "done", "type": "add_tag", "tag": "a-done"},
    ],
})
RB = _automation({
    "id": "rb",
    "triggers": [_on_tag("start-b")],
    "flow": [
        {"id": "nine", "type": "wait_until_time_of_day", "time": "09:00"},
        {"id": "mail", "type": "send_email", "template": "b-mail"},
    ],
    "exits": [{"id": "a-finished", "event": "user.tag_added", "tag": "a-done"}],
})


def _tag_event(number: int, user: str, tag: str, at: datetime):
    return parse_school_event({
        "id": f"e{number}-{user}", "type": "user.tag_added", "school": "s", "user": user, "subject": "user",
        "occurred_at": at.isoformat(), "data": {"tag": tag},
    })


def _outcomes(result) -> dict[str, set[tuple]]:
    by_learner: dict[str, set[tuple]] = {}
    for run in result.runs:
        by_learner.setdefault(run.user, set()).add(
            (run.automation_id, run.status, run.exit_id, tuple(a.template or a.tag for a in run.actions))
        )
    return by_learner


def test_the_run_scheduled_first_resumes_first_and_its_tag_ends_the_other_through_its_exit():
    # given, for every learner, start-a at 08:00:01 and start-b at 08:10:02: both wait until 09:00
    events = []
    for user in LEARNERS:
        events += [_tag_event(1, user, "start-a", NINE - timedelta(minutes=59, seconds=59)),
                   _tag_event(2, user, "start-b", NINE - timedelta(minutes=49, seconds=58))]
    # when the clock passes 09:00
    result = simulate([RA, RB], events, NINE + timedelta(hours=1))
    # then ra resumes first (scheduled first), adds a-done, and rb exits without its email
    want = {("ra", "fulfilled", None, ("a-done",)), ("rb", "completed_via_exit", "a-finished", ())}
    assert _outcomes(result) == {user: want for user in LEARNERS}


def test_scheduled_the_other_way_round_the_other_run_resumes_first():
    # given start-b first this time
    events = []
    for user in LEARNERS:
        events += [_tag_event(1, user, "start-b", NINE - timedelta(minutes=59, seconds=59)),
                   _tag_event(2, user, "start-a", NINE - timedelta(minutes=49, seconds=58))]
    # when the clock passes 09:00
    result = simulate([RA, RB], events, NINE + timedelta(hours=1))
    # then rb resumes first and sends its email before ra's tag comes
    want = {("ra", "fulfilled", None, ("a-done",)), ("rb", "fulfilled", None, ("b-mail",))}
    assert _outcomes(result) == {user: want for user in LEARNERS}


FOLLOW_UP = _automation({
    "id": "follow-up",
    "triggers": [_on_tag("start")],
    "flow": [
        {"id": "day", "type": "wait_duration", "amount": 1, "unit": "days"},
        {"id": "followed", "type": "add_tag", "tag": "followed"},
    ],
})
COME_BACK = _automation({
    "id": "come-back",
    "triggers": [{"id": "quiet", "event": "user.inactive", "days": 1,
                  "conditions": [{"type": "lacks_tag", "tag": "followed"}]}],
    "flow": [{"id": "mail", "type": "send_email", "template": "come-back"}],
})


def test_an_inactivity_timer_re_armed_onto_a_wait_instant_fires_after_the_wait_scheduled_before():
    # given activity at 08:00 (the inactivity timer due tomorrow 08:00), and at 20:00
    # a tag that starts a one-day wait, due tomorrow 20:00
    monday = NINE - timedelta(hours=1)
    events = [_tag_event(1, "u", "other", monday), _tag_event(2, "u", "start", monday + timedelta(hours=12))]
    # when the inactivity timer fires early tomorrow 08:00 and re-arms at tomorrow 20:00,
    # the instant of the wait, scheduled twelve hours before it
    result = simulate([FOLLOW_UP, COME_BACK], events, monday + timedelta(days=3))
    # then the wait fires first (its tag is there when the learner has been quiet a
    # day), although the inactivity timer's id sorts before every wait timer's
    assert _outcomes(result) == {"u": {("follow-up", "fulfilled", None, ("followed",))}}
    (declined,) = result.declined
    quiet_from = (monday + timedelta(days=1, hours=12)).isoformat()
    assert (declined.automation_id, declined.trigger_event_id, declined.reason) == (
        "come-back", f"inactive:s:u:1@{quiet_from}", "conditions not met"
    )
