"""Schools where one learner's runs resume at the same instant and affect each other.

Owns the inputs of the timer-order differential (docs/engine.md, Timer
order): the fixed cases, and `random_school(seed)`, a seeded generator of
automations and school events. Each school is on its own, under its own name:
automation ids and event ids start with it, so several schools share one
live worker and one simulation, and their runs can be told apart afterwards.

The random automations are built so that a learner's timers often come due
together and one run's action changes what another does: calendar waits of
every kind on a few shared instants (09:00 UTC is also 10:00 in Berlin and
04:00 in New York), durations that runs started by one event share, waits
on the learner's date and number fields, tags that the actions add and
remove and that trigger other automations, end runs through their exits and
decide branches.

Every event of a random learner lands on a millisecond of its own (the 1st,
2nd, 3rd... past a whole second). Calendar waits come due on whole seconds
and a duration keeps the millisecond of the event it counts from (an earlier
one, however many waits lie between), so a timer is never due exactly when one of its learner's events occurs: the simulator
handles the event first, a live worker would race them, and the timeline
refuses it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from engine.definitions import Automation
from engine.school_events import SchoolEvent

ACTIVATED_AT = datetime(2027, 3, 1, tzinfo=timezone.utc)  # a Monday
UNTIL = ACTIVATED_AT + timedelta(days=9)
EVENT_DAYS = 4  # learners' events fall in the first days, their waits run on past them

START_TAGS = ("start-1", "start-2", "start-3")
DERIVED_TAGS = ("done-1", "done-2", "done-3")
ALL_TAGS = START_TAGS + DERIVED_TAGS


@dataclass(frozen=True)
class School:
    """One school's automations (saved and activated at ACTIVATED_AT) and school events."""

    name: str
    automations: list[Automation]
    events: list[SchoolEvent]
    what: str


def _automation(school: str, raw: dict) -> Automation:
    return Automation.model_validate({**raw, "id": f"{school}-{raw['id']}", "school": school, "name": raw["id"]})


def _event(school: str, user: str, number: int, kind: str, at: datetime, data: dict) -> SchoolEvent:
    return SchoolEvent(
        id=f"{school}-{user}-{number}", type=kind, school=school, user=user, subject="user", occurred_at=at, data=data
    )


# ---------------------------------------------------------------- fixed cases


def two_runs_resume_at_nine(learners: int = 8, school: str = "fixed-nine", day: int = 0) -> School:
    """The issue's reproduction, for several learners (their run ids, so their timer ids, differ).

    ra: on tag start-a, wait until 09:00 UTC, add tag a-done. rb: on tag start-b, wait
    until 09:00 UTC, send b-mail; exit on tag a-done. start-a at 08:00:01, start-b at
    08:10:02 (on the `day`-th day): ra was scheduled first, so it resumes first and rb
    ends through its exit.
    """
    automations = [
        _automation(school, {
            "id": "ra",
            "triggers": [{"id": "t", "event": "user.tag_added", "tag": "start-a"}],
            "flow": [
                {"id": "nine", "type": "wait_until_time_of_day", "time": "09:00"},
                {"id": "done", "type": "add_tag", "tag": "a-done"},
            ],
        }),
        _automation(school, {
            "id": "rb",
            "triggers": [{"id": "t", "event": "user.tag_added", "tag": "start-b"}],
            "flow": [
                {"id": "nine", "type": "wait_until_time_of_day", "time": "09:00"},
                {"id": "mail", "type": "send_email", "template": "b-mail"},
            ],
            "exits": [{"id": "a-finished", "event": "user.tag_added", "tag": "a-done"}],
        }),
    ]
    morning = ACTIVATED_AT + timedelta(days=day, hours=8)
    events = []
    for number in range(learners):
        user = f"u{number}"
        start_a, start_b = morning + timedelta(seconds=1), morning + timedelta(minutes=10, seconds=2)
        events.append(_event(school, user, 1, "user.tag_added", start_a, {"tag": "start-a"}))
        events.append(_event(school, user, 2, "user.tag_added", start_b, {"tag": "start-b"}))
    return School(school, automations, events, "ra and rb wait until the same 09:00; ra was scheduled first")


def inactivity_re_armed_onto_a_wait(learners: int = 2, school: str = "fixed-quiet") -> School:
    """An inactivity timer re-armed onto the instant of a wait scheduled before it.

    Activity at 08:00 arms the one-day inactivity timer for tomorrow 08:00; a tag at
    20:00 starts follow-up, which waits one day (tomorrow 20:00). The inactivity timer
    fires early tomorrow 08:00 and re-arms at tomorrow 20:00, after the wait was
    scheduled: the wait fires first, its tag `followed` is there when come-back's
    trigger checks it, and come-back starts no run. (An inactivity timer's id,
    `inactive:...`, sorts before every wait timer's, `wait:...`.)
    """
    automations = [
        _automation(school, {
            "id": "follow-up",
            "triggers": [{"id": "t", "event": "user.tag_added", "tag": "start"}],
            "flow": [
                {"id": "day", "type": "wait_duration", "amount": 1, "unit": "days"},
                {"id": "followed", "type": "add_tag", "tag": "followed"},
            ],
        }),
        _automation(school, {
            "id": "come-back",
            "triggers": [{"id": "quiet", "event": "user.inactive", "days": 1,
                          "conditions": [{"type": "lacks_tag", "tag": "followed"}]}],
            "flow": [{"id": "mail", "type": "send_email", "template": "come-back"}],
        }),
    ]
    events = []
    for number in range(learners):
        user, morning = f"u{number}", ACTIVATED_AT + timedelta(hours=8, seconds=number + 1)
        events.append(_event(school, user, 1, "user.tag_added", morning, {"tag": "other"}))
        events.append(_event(school, user, 2, "user.tag_added", morning + timedelta(hours=12), {"tag": "start"}))
    return School(school, automations, events, "an inactivity timer re-armed onto a wait's instant")


FIXED = (two_runs_resume_at_nine, inactivity_re_armed_onto_a_wait)


# ---------------------------------------------------------------- random schools

# Waits on a few shared instants, each as (weight, step builder); steps get their ids later.
CALENDAR_WAITS = [
    (3, lambda r: {"type": "wait_until_time_of_day", "time": "09:00"}),
    (2, lambda r: {"type": "wait_until_time_of_day", "time": "10:00", "timezone": "Europe/Berlin"}),
    (1, lambda r: {"type": "wait_until_time_of_day", "time": "04:00", "timezone": "America/New_York"}),
    (1, lambda r: {"type": "wait_until_time_of_day", "time": "13:00"}),
    (2, lambda r: {"type": "wait_until_weekday", "weekday": r.choice(["tuesday", "wednesday"]), "time": "09:00"}),
    (2, lambda r: {"type": "wait_until_datetime", "at": r.choice(["2027-03-02T09:00:00", "2027-03-03T13:00:00"]),
                   "if_passed": r.choice(["continue", "end"])}),
    (2, lambda r: {"type": "wait_field_date", "field": "deadline",
                   "if_passed": r.choice(["continue", "end", "next_occurrence"])}),
    (1, lambda r: {"type": "wait_field_date", "field": "meeting",
                   "before": {"amount": r.choice([1, 4]), "unit": "hours"}}),
]
OTHER_WAITS = [
    (2, lambda r: {"type": "wait_duration", **r.choice([
        {"amount": 30, "unit": "minutes"}, {"amount": 1, "unit": "hours"}, {"amount": 1, "unit": "days"},
    ])}),
    (1, lambda r: {"type": "wait_field_duration", "field": "gap_hours", "unit": "hours"}),
]


def _pick(rng: random.Random, weighted: list):
    return rng.choices([item for _, item in weighted], [weight for weight, _ in weighted])[0]


class _AutomationWriter:
    """One random automation: 1 or 2 triggers, 1 or 2 wait segments, 0 to 2 exits."""

    def __init__(self, rng: random.Random, name: str):
        self.rng, self.name, self.steps = rng, name, 0

    def _id(self, kind: str) -> str:
        self.steps += 1
        return f"{kind}{self.steps}"

    def action(self) -> dict:
        rng = self.rng
        roll = rng.random()
        if roll < 0.55:
            return {"id": self._id("add"), "type": "add_tag", "tag": rng.choice(DERIVED_TAGS)}
        if roll < 0.7:
            return {"id": self._id("remove"), "type": "remove_tag", "tag": rng.choice(ALL_TAGS)}
        step_id = self._id("mail")
        return {"id": step_id, "type": "send_email", "template": f"{self.name}.{step_id}"}

    def segment(self) -> list[dict]:
        """A wait, an action (so no two waits meet on any path), maybe a branch on a tag."""
        rng = self.rng
        wait = _pick(rng, CALENDAR_WAITS if rng.random() < 0.7 else OTHER_WAITS)(rng)
        steps = [{"id": self._id("wait"), **wait}, self.action()]
        if rng.random() < 0.5:
            condition = {"type": rng.choice(["has_tag", "lacks_tag"]), "tag": rng.choice(ALL_TAGS)}
            steps.append({
                "id": self._id("branch"), "type": "branch", "conditions": [condition],
                "yes": [self.action()], "no": [self.action()] if rng.random() < 0.7 else [],
            })
        return steps

    def trigger(self, number: int) -> dict:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return {"id": f"t{number}", "event": "user.inactive", "days": 1}
        tag = rng.choice(START_TAGS) if roll < 0.65 else rng.choice(DERIVED_TAGS)
        return {"id": f"t{number}", "event": "user.tag_added", "tag": tag}

    def write(self) -> dict:
        rng = self.rng
        return {
            "id": self.name,
            "triggers": [self.trigger(n) for n in range(1, rng.choice([1, 1, 2]) + 1)],
            "flow": [step for _ in range(rng.choice([1, 1, 2])) for step in self.segment()],
            "exits": [
                {"id": f"x{n}", "event": "user.tag_added", "tag": rng.choice(ALL_TAGS)}
                for n in range(1, rng.choice([0, 1, 1, 2]) + 1)
            ],
        }


def random_school(seed: int, learners: int = 3, automations: int = 5) -> School:
    """Seeded: the same seed always gives the same school, named `seed-N`."""
    rng = random.Random(seed)
    school = f"seed-{seed}"
    written = [_automation(school, _AutomationWriter(rng, f"a{n}").write()) for n in range(1, automations + 1)]
    events = []
    for number in range(learners):
        user = f"u{number}"
        fields = {
            "deadline": (ACTIVATED_AT + timedelta(days=rng.randint(1, 3))).date().isoformat(),
            "meeting": (ACTIVATED_AT + timedelta(days=rng.randint(1, 3), hours=9)).isoformat().replace("+00:00", "Z"),
            "gap_hours": rng.choice([1, 2, 3]),
        }
        registered = ACTIVATED_AT + timedelta(hours=6, minutes=rng.randrange(60), seconds=rng.randrange(60))
        steps = [("user.registered", registered, {"email": f"{user}@example.org", "fields": fields})]
        for _ in range(rng.randint(4, 8)):
            at = ACTIVATED_AT + timedelta(
                days=rng.randrange(EVENT_DAYS), hours=rng.randint(6, 20), minutes=rng.randrange(60),
                seconds=rng.randrange(60),
            )
            if rng.random() < 0.8:
                tags = START_TAGS if rng.random() < 0.8 else DERIVED_TAGS
                steps.append(("user.tag_added", at, {"tag": rng.choice(tags)}))
            else:
                steps.append(("user.tag_removed", at, {"tag": rng.choice(ALL_TAGS)}))
        steps.sort(key=lambda step: step[1])
        for index, (kind, at, data) in enumerate(steps, start=1):
            # The learner's own millisecond for each event (see the module's opening).
            events.append(_event(school, user, index, kind, at + timedelta(milliseconds=index), data))
    return School(school, written, events, f"random school of seed {seed}")
