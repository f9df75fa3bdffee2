"""Throughput of the pure engine core: school events per second through `handle`.

One school, 1,000 active automations of the kinds the guide describes (course
onboarding with waits, branches and exits, tag-driven flows, completions,
purchases, certificates, assessments, inactivity), 100,000 registered
learners, and a realistic event mix dominated by activity and lesson
completions. Events and learner states are built before the clock starts;
the measured loop is exactly what a live worker does per input minus Kafka:
look up the learner's state, `handle(HandleSchoolEvent(event), state,
catalog, now)`, store the new state, and count emitted events.

    python bench/engine_core.py [--events 200000] [--learners 100000] [--automations 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.catalog import Catalog  # noqa: E402
from engine.commands import FireTimer, HandleSchoolEvent, Timer  # noqa: E402
from engine.decider import handle  # noqa: E402
from engine.definitions import Automation  # noqa: E402
from engine.learner import LearnerState  # noqa: E402
from engine.school_events import SchoolEvent  # noqa: E402

SCHOOL = "bench-school"
START = datetime(2027, 3, 1, tzinfo=timezone.utc)
COURSES = [f"course-{n}" for n in range(200)]
TAGS = [f"tag-{n}" for n in range(300)]
PRODUCTS = [f"product-{n}" for n in range(50)]
CERTIFICATES = [f"certificate-{n}" for n in range(50)]
ASSESSMENTS = [f"quiz-{n}" for n in range(200)]
DOMAINS = ["school.edu"] + [f"mail-{n}.example" for n in range(9)]
INACTIVITY_DAYS = (3, 7, 14, 30)
# Tags automations set to mark progress; a few trigger other automations (chains), most do not.
MARKS = [f"mark-{n}" for n in range(300)] + TAGS[:10]


def _flow(rng: random.Random, n: int) -> list[dict]:
    flow = [{"id": "hello", "type": "send_email", "template": f"hello-{n}"}]
    if rng.random() < 0.7:
        flow.append({"id": "wait", "type": "wait_duration", "amount": rng.choice([1, 2, 3, 7]), "unit": "days"})
        flow.append({
            "id": "check", "type": "branch", "match": rng.choice(["all", "any"]),
            "conditions": [{"type": "has_tag", "tag": rng.choice(TAGS)}, {"type": "completed_course", "course": rng.choice(COURSES)}],
            "yes": [{"id": "yes-mail", "type": "send_email", "template": f"yes-{n}"}],
            "no": [{"id": "no-tag", "type": "add_tag", "tag": rng.choice(MARKS)}],
        })
    if rng.random() < 0.3:
        flow.append({"id": "follow", "type": "add_tag", "tag": rng.choice(MARKS)})
    return flow


def _trigger(rng: random.Random) -> dict:
    roll = rng.random()
    if roll < 0.30:
        return {"event": "course.enrolled", "course": rng.choice(COURSES)}
    if roll < 0.50:
        return {"event": "user.tag_added", "tag": rng.choice(TAGS)}
    if roll < 0.65:
        return {"event": "course.completed", "course": rng.choice(COURSES)}
    if roll < 0.75:
        lesson = {"lesson": f"l{rng.randint(1, 30)}"} if rng.random() < 0.8 else {}
        return {"event": "lesson.completed", "course": rng.choice(COURSES), **lesson,
                "conditions": [{"type": "field_greater", "field": "score", "value": 50}]}
    if roll < 0.80:
        return {"event": "product.purchased", "product": rng.choice(PRODUCTS)}
    if roll < 0.85:
        return {"event": "user.inactive", "days": rng.choice([3, 7, 14, 30])}
    if roll < 0.90:
        return {"event": "certificate.issued", "certificate": rng.choice(CERTIFICATES)}
    if roll < 0.98:
        return {"event": "assessment.submitted", "assessment": rng.choice(ASSESSMENTS), "passed": True}
    if roll < 0.99:
        return {"event": "user.activity", "kind": "checkout_abandoned"}
    return {"event": "user.registered", "conditions": [{"type": "email_contains", "value": "@school.edu"}]}


def make_automations(count: int, rng: random.Random) -> list[Automation]:
    automations = []
    for n in range(count):
        triggers = [{"id": f"t{i}", **_trigger(rng)} for i in range(rng.choice([1, 1, 1, 2, 3]))]
        exits = [{"id": "done", "event": "course.completed", "course": rng.choice(COURSES)}] if rng.random() < 0.5 else []
        automations.append(Automation.model_validate({
            "id": f"automation-{n:04d}", "school": SCHOOL, "name": f"a{n}", "status": "active",
            "activated_at": START - timedelta(days=1), "triggers": triggers, "flow": _flow(rng, n), "exits": exits,
        }))
    return automations


def make_learners(count: int, rng: random.Random) -> dict[str, LearnerState]:
    states = {}
    for n in range(count):
        user = f"learner-{n}"
        last_activity = START - timedelta(hours=rng.randint(1, 72))
        states[f"{SCHOOL}:{user}"] = LearnerState(
            school=SCHOOL, user=user, registered=True, email=f"{user}@example.com",
            registered_at=START - timedelta(days=rng.randint(1, 900)),
            tags=frozenset(rng.sample(TAGS, 3)), courses=frozenset(rng.sample(COURSES, 2)),
            fields={"score": rng.randint(0, 100), "plan": rng.choice(["free", "pro"])},
            last_activity_at=last_activity,
            # Learners seen before already have their inactivity timers pending.
            inactivity_timers={days: last_activity + timedelta(days=days) for days in INACTIVITY_DAYS},
        )
    return states


MIX = [  # (event type, weight per 1,000): page views and lessons dominate a school's day;
    # a course of ~30 lessons makes lesson completions ~10x as frequent as enrollments.
    ("user.activity", 450), ("lesson.completed", 350), ("assessment.submitted", 50), ("user.updated", 40),
    ("course.enrolled", 30), ("user.tag_added", 30), ("course.completed", 15), ("user.tag_removed", 10),
    ("product.purchased", 10), ("user.registered", 10), ("certificate.issued", 5),
]


def make_events(count: int, learners: int, rng: random.Random) -> list[SchoolEvent]:
    types = [kind for kind, weight in MIX for _ in range(weight)]
    events = []
    at = START
    for n in range(count):
        at += timedelta(milliseconds=rng.randint(100, 2500))  # ~3 days of a busy school
        kind = rng.choice(types)
        data = {
            "user.activity": lambda: {"kind": "checkout_abandoned" if rng.random() < 0.01 else "page_view"},
            "lesson.completed": lambda: {"course": rng.choice(COURSES), "lesson": f"l{rng.randint(1, 30)}"},
            "course.enrolled": lambda: {"course": rng.choice(COURSES)},
            "course.completed": lambda: {"course": rng.choice(COURSES)},
            "user.tag_added": lambda: {"tag": rng.choice(TAGS)},
            "user.tag_removed": lambda: {"tag": rng.choice(TAGS)},
            "user.updated": lambda: {"fields": {"score": rng.randint(0, 100)}},
            "assessment.submitted": lambda: {"assessment": rng.choice(ASSESSMENTS), "score": 0.8, "passed": rng.random() < 0.7},
            "product.purchased": lambda: {"product": rng.choice(PRODUCTS)},
            "user.registered": lambda: {"email": f"new{n}@{rng.choice(DOMAINS)}", "fields": {}},
            "certificate.issued": lambda: {"certificate": rng.choice(CERTIFICATES), "course": rng.choice(COURSES)},
        }[kind]()
        # A third of the traffic comes from the 1% most active learners.
        regular = rng.randrange(learners // 100) if rng.random() < 0.3 else rng.randrange(learners)
        user = f"new-{n}" if kind == "user.registered" else f"learner-{regular}"
        events.append(SchoolEvent(id=f"bench-{n}", type=kind, school=SCHOOL, user=user, occurred_at=at, data=data))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--automations", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    catalog = Catalog.of(make_automations(args.automations, rng))
    states = make_learners(args.learners, rng)
    events = make_events(args.events, args.learners, rng)
    # A live worker keeps learner states serialised in RocksDB, not as 100,000 live
    # object graphs; freezing the set-up objects keeps the cyclic GC from re-walking
    # them on every collection, which would measure the bench's heap, not the engine.
    gc.collect()
    gc.freeze()
    elapsed, emitted = run(events, states, catalog)
    print(f"mix: {args.events} events (+{emitted['fire_timer']} timers fired), {args.automations} automations, "
          f"{args.learners} learners: {elapsed:.2f} s, {args.events / elapsed:,.0f} events/s")
    print("  emitted: " + ", ".join(f"{kind}={count}" for kind, count in sorted(emitted.items())))
    quiet = [e.model_copy(update={"type": "user.activity", "data": {"kind": "page_view"}}) for e in events[: args.events // 2]]
    elapsed, emitted = run(quiet, states, catalog)
    print(f"floor: {len(quiet)} page views that start nothing: {len(quiet) / elapsed:,.0f} events/s, "
          f"{elapsed / len(quiet) * 1e6:.1f} us each")


def run(events: list[SchoolEvent], states: dict[str, LearnerState], catalog: Catalog) -> tuple[float, Counter]:
    """Every event, and every timer that comes due before it (as the timer agent would fire it)."""
    emitted: Counter[str] = Counter()
    timers: dict[str, Timer] = {}
    due: list[tuple[datetime, str]] = []
    started = time.perf_counter()
    for event in events:
        while due and due[0][0] < event.occurred_at:
            _, timer_id = heapq.heappop(due)
            timer = timers.pop(timer_id, None)
            if timer is not None:
                _handle(FireTimer(timer=timer), f"{timer.school}:{timer.user}", states, catalog, timer.due_at, emitted, timers, due)
        key = f"{event.school}:{event.user}"
        _handle(HandleSchoolEvent(event=event), key, states, catalog, event.occurred_at, emitted, timers, due)
    return time.perf_counter() - started, emitted


def _handle(command, key, states, catalog, now, emitted, timers, due) -> None:
    school, user = key.split(":", 1)
    outcome = handle(command, states.get(key) or LearnerState.new(school, user), catalog, now)
    states[key] = outcome.state
    emitted[command.type] += 1
    for item in outcome.events:
        emitted[item.type] += 1
        if item.type == "timer_scheduled":
            timers[item.timer.id] = item.timer
            heapq.heappush(due, (item.timer.due_at, item.timer.id))
        elif item.type == "timer_cancelled":
            timers.pop(item.timer_id, None)

if __name__ == "__main__":
    main()
