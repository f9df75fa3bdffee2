"""What the pipeline benchmark feeds the worker: automations and school events.

One school with a few active automations of the guide's kinds (a welcome
on registration, course onboarding with a wait, a branch and an exit, a
VIP tag flow, a completion flow, a first-lesson note, a purchase flow with
a wait, an inactivity check, a passed-quiz tag) and the event mix of a
school's day, where most events start no run. Beside it, three automations
the other phases measure with: `ping` (one email on a `ping` tag, for the
event -> action latency), `sync-unlock` (synchronous, for the HTTP ingest)
and, in a school of its own so its timers are the only ones counted,
`cohort-start` (everyone who enrolls waits until one instant, then gets an
email: timers all due at once).

The mix's waits are 3 days or longer and the cohort's instant is hours
ahead, so moving the worker's clock to the cohort's instant fires the
cohort's timers and nothing else.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from engine.definitions import Automation
from engine.school_events import SchoolEvent
from processors.ingest import encode_event

SCHOOL = "bench-school"
TIMER_SCHOOL = "bench-timers"
COURSES = [f"course-{n}" for n in range(40)]
TAGS = [f"tag-{n}" for n in range(30)] + ["vip"]
PRODUCTS = [f"product-{n}" for n in range(10)]
PING_TAG = "ping"
SYNC_TAG = "unlock"
COHORT_COURSE = "cohort-101"

MIX = [  # (event type, weight per 1,000), as in bench/engine_core.py: activity and lessons dominate
    ("user.activity", 450), ("lesson.completed", 350), ("assessment.submitted", 50), ("user.updated", 40),
    ("course.enrolled", 30), ("user.tag_added", 30), ("course.completed", 15), ("user.tag_removed", 10),
    ("product.purchased", 10), ("user.registered", 10), ("certificate.issued", 5),
]


def _automation(id_: str, school: str, triggers: list[dict], flow: list[dict], exits=(), mode="asynchronous") -> Automation:
    return Automation.model_validate({
        "id": id_, "school": school, "name": id_, "mode": mode,
        "triggers": [{"id": f"{id_}-{n}", **t} for n, t in enumerate(triggers)],
        "flow": flow, "exits": list(exits),
    })


def _email(id_: str) -> dict:
    return {"id": id_, "type": "send_email", "template": id_}


def school_automations() -> list[Automation]:
    """The school's own automations, the ones the mix meets."""
    return [
        _automation("welcome", SCHOOL, [{"event": "user.registered"}],
                    [_email("welcome-mail"), {"id": "mark-welcomed", "type": "add_tag", "tag": "welcomed"}]),
        _automation("onboarding", SCHOOL, [{"event": "course.enrolled"}], [
            _email("course-hello"),
            {"id": "wait-3-days", "type": "wait_duration", "amount": 3, "unit": "days"},
            {"id": "engaged", "type": "branch", "conditions": [{"type": "has_tag", "tag": "tag-1"}],
             "yes": [_email("keep-going")], "no": [_email("nudge")]},
        ], exits=[{"id": "completed", "event": "course.completed"}]),
        _automation("vip", SCHOOL, [{"event": "user.tag_added", "tag": "vip"}],
                    [{"id": "lounge", "type": "enroll_in_course", "course": "vip-lounge"}, _email("vip-hello")]),
        _automation("graduation", SCHOOL, [{"event": "course.completed"}],
                    [_email("congrats"), {"id": "graduate", "type": "add_tag", "tag": "graduate"}]),
        _automation("first-lesson", SCHOOL, [{"event": "lesson.completed", "lesson": "l1"}], [_email("first-lesson")]),
        _automation("purchase", SCHOOL, [{"event": "product.purchased"}], [
            {"id": "unlock-course", "type": "enroll_in_course", "course": "bonus-course"},
            {"id": "wait-4-days", "type": "wait_duration", "amount": 4, "unit": "days"},
            _email("purchase-follow-up"),
        ]),
        _automation("miss-you", SCHOOL, [{"event": "user.inactive", "days": 7}], [_email("we-miss-you")]),
        _automation("quiz-passed", SCHOOL, [{"event": "assessment.submitted", "passed": True}],
                    [{"id": "passed", "type": "add_tag", "tag": "passed-quiz"}]),
    ]


def probe_automations(cohort_due: datetime) -> list[Automation]:
    """The automations the latency, ingest and timer phases trigger."""
    return [
        _automation("ping", SCHOOL, [{"event": "user.tag_added", "tag": PING_TAG}], [_email("pong")]),
        _automation("sync-unlock", SCHOOL, [{"event": "user.tag_added", "tag": SYNC_TAG}], [
            {"id": "unlock", "type": "enroll_in_course", "course": "unlocked-course"},
            {"id": "mark-unlocked", "type": "add_tag", "tag": "unlocked"},
        ], mode="synchronous"),
        _automation("cohort-start", TIMER_SCHOOL, [{"event": "course.enrolled", "course": COHORT_COURSE}], [
            {"id": "until-start", "type": "wait_until_datetime",
             "at": cohort_due.strftime("%Y-%m-%dT%H:%M:%S"), "timezone": "UTC"},
            _email("cohort-starts"),
        ]),
    ]


def mix_events(count: int, learners: int, start: datetime, seed: int = 1, prefix: str = "mix") -> list[tuple[str, bytes]]:
    """`count` encoded (key, value) school events with ids `prefix-n`, 1 ms of event time apart from `start`.

    A third of the traffic comes from the 1% most active learners; lessons and
    completions mostly concern a course the learner is enrolled in.
    """
    rng = random.Random(seed)
    types = [kind for kind, weight in MIX for _ in range(weight)]
    enrolled: dict[str, list[str]] = {}
    encoded = []
    for n in range(count):
        kind = rng.choice(types)
        hot = rng.random() < 0.3
        user = f"{prefix}-new-{n}" if kind == "user.registered" else f"learner-{rng.randrange(max(learners // 100, 1) if hot else learners)}"
        own = enrolled.get(user)
        course = rng.choice(own) if own and rng.random() < 0.8 else rng.choice(COURSES)
        if kind == "user.activity":
            data = {"kind": "page_view"}
        elif kind == "lesson.completed":
            data = {"course": course, "lesson": f"l{rng.randint(1, 30)}"}
        elif kind == "course.enrolled":
            data = {"course": rng.choice(COURSES)}
            enrolled.setdefault(user, []).append(data["course"])
        elif kind in ("course.completed", "certificate.issued"):
            data = {"course": course} if kind == "course.completed" else {"certificate": "cert-1", "course": course}
        elif kind in ("user.tag_added", "user.tag_removed"):
            data = {"tag": rng.choice(TAGS)}
        elif kind == "user.updated":
            data = {"fields": {"score": rng.randint(0, 100)}}
        elif kind == "assessment.submitted":
            data = {"assessment": f"quiz-{rng.randrange(20)}", "score": 0.8, "passed": rng.random() < 0.7}
        elif kind == "product.purchased":
            data = {"product": rng.choice(PRODUCTS)}
        else:
            data = {"email": f"new{n}@example.org", "fields": {}}
        event = SchoolEvent(id=f"{prefix}-{n}", type=kind, school=SCHOOL, user=user,
                            occurred_at=start + timedelta(milliseconds=n), data=data)
        encoded.append(encode_event(event))
    return encoded


def with_pings(records: list[tuple[str, bytes]], every: int, prefix: str, at: datetime) -> dict[int, str]:
    """Replace every `every`-th record by a ping for a fresh learner `prefix-k`; returns index -> user."""
    pings = {}
    for index in range(every - 1, len(records), every):
        user = f"{prefix}-{len(pings)}"
        records[index] = encode_event(tagged(f"{user}-e", user, PING_TAG, at))
        pings[index] = user
    return pings


def tagged(event_id: str, user: str, tag: str, at: datetime) -> SchoolEvent:
    return SchoolEvent(id=event_id, type="user.tag_added", school=SCHOOL, user=user, occurred_at=at, data={"tag": tag})


def cohort_enrollment(n: int, at: datetime) -> tuple[str, bytes]:
    return encode_event(SchoolEvent(id=f"cohort-{n}", type="course.enrolled", school=TIMER_SCHOOL,
                                    user=f"cohort-learner-{n}", occurred_at=at, data={"course": COHORT_COURSE}))
