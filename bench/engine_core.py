"""Throughput of the pure engine core: school events per second through `handle`.

One school, 1,000 active automations of the kinds the guide describes (course
onboarding with waits, branches and exits, tag-driven flows, completions,
purchases, certificates, assessments, inactivity), 100,000 registered
learners, and a realistic event mix dominated by activity and lesson
completions; learners complete lessons and courses they are enrolled in, so
exit conditions fire as they would in a school. Events and learner states are
built before the clock starts; the measured loop is exactly what a live worker
does per input minus Kafka: look up the learner's state, `handle(command,
state, catalog, now)`, store the new state, and count emitted events. Timers
come due in the loop and are fired as the timer agent would fire them.

Each pass starts from the same set-up states (they are immutable, so a pass
works on a shallow copy of the dict); a warm-up pass on a throwaway copy fills
the catalog's caches first. Wall and CPU time are both reported: CPU time
(`time.process_time`) is the figure to compare on a machine shared with other
work; `--repeat 0` builds everything and measures nothing, which lets an
instruction counter subtract the set-up (see bench/BENCHMARKS.md).

    python bench/engine_core.py [--events 200000] [--learners 100000] [--automations 1000] [--days 3]
                                [--seed 1] [--repeat 3] [--warmup 2000] [--floor 100000]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import statistics
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
from engine.values import replace  # noqa: E402

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
PROGRESS_EVERY = 5.0  # seconds between progress lines on stderr
# A live worker keeps learner states serialised in RocksDB, not as live object graphs;
# the bench keeps them in a dict (to measure the core, not serialisation) and freezes
# them out of the cyclic collector's sight every this many inputs (gc.freeze is O(1)),
# so full collections do not re-walk 100,000 states a worker would not hold. Collections
# of the engine's own short-lived objects still count. --live-heap turns this off.
FREEZE_EVERY = 1_000


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


def _exit(rng: random.Random, trigger: dict) -> dict:
    """The goal that ends a flow early: the course it is about is completed, the tag it
    follows is removed, or (for the rest) a purchase."""
    if "course" in trigger and trigger["event"] != "course.completed":
        return {"id": "done", "event": "course.completed", "course": trigger["course"]}
    if trigger["event"] == "user.tag_added":
        return {"id": "untagged", "event": "user.tag_removed", "tag": trigger["tag"]}
    return {"id": "bought", "event": "product.purchased", "product": rng.choice(PRODUCTS)}


def make_automations(count: int, rng: random.Random) -> list[Automation]:
    automations = []
    for n in range(count):
        triggers = [{"id": f"t{i}", **_trigger(rng)} for i in range(rng.choice([1, 1, 1, 2, 3]))]
        exits = [_exit(rng, triggers[0])] if rng.random() < 0.5 else []
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


def make_events(count: int, states: dict[str, LearnerState], days: float, rng: random.Random) -> list[SchoolEvent]:
    """`count` events over `days`; 80% of lesson, course and certificate events concern one
    of the learner's courses and half of tag removals one of their tags (as the stream goes)."""
    learners = len(states)
    courses = {state.user: sorted(state.courses) for state in states.values()}
    tags = {state.user: sorted(state.tags) for state in states.values()}
    types = [kind for kind, weight in MIX for _ in range(weight)]
    events = []
    at = START
    mean_gap_ms = days * 86_400_000 / max(count, 1)  # 200,000 events in 3 days: 1.3 s apart
    for n in range(count):
        at += timedelta(milliseconds=rng.randint(round(mean_gap_ms / 13), round(mean_gap_ms * 25 / 13)))
        kind = rng.choice(types)
        # A third of the traffic comes from the 1% most active learners.
        regular = rng.randrange(learners // 100) if rng.random() < 0.3 else rng.randrange(learners)
        user = f"new-{n}" if kind == "user.registered" else f"learner-{regular}"
        own = courses.get(user, [])
        course = rng.choice(own) if own and rng.random() < 0.8 else rng.choice(COURSES)
        data = {
            "user.activity": lambda: {"kind": "checkout_abandoned" if rng.random() < 0.01 else "page_view"},
            "lesson.completed": lambda: {"course": course, "lesson": f"l{rng.randint(1, 30)}"},
            "course.enrolled": lambda: {"course": rng.choice(COURSES)},
            "course.completed": lambda: {"course": course},
            "user.tag_added": lambda: {"tag": rng.choice(TAGS)},
            "user.tag_removed": lambda: {"tag": rng.choice(tags[user]) if tags.get(user) and rng.random() < 0.5 else rng.choice(TAGS)},
            "user.updated": lambda: {"fields": {"score": rng.randint(0, 100)}},
            "assessment.submitted": lambda: {"assessment": rng.choice(ASSESSMENTS), "score": 0.8, "passed": rng.random() < 0.7},
            "product.purchased": lambda: {"product": rng.choice(PRODUCTS)},
            "user.registered": lambda: {"email": f"new{n}@{rng.choice(DOMAINS)}", "fields": {}},
            "certificate.issued": lambda: {"certificate": rng.choice(CERTIFICATES), "course": course},
        }[kind]()
        if kind == "course.enrolled":
            courses.setdefault(user, []).append(data["course"])
        elif kind == "user.tag_added":
            tags.setdefault(user, []).append(data["tag"])
        events.append(SchoolEvent(id=f"bench-{n}", type=kind, school=SCHOOL, user=user, occurred_at=at, data=data))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--automations", type=int, default=1_000)
    parser.add_argument("--days", type=float, default=3.0, help="virtual time the events span (timers come due in it)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="measured passes over the mix (0: set up only)")
    parser.add_argument("--warmup", type=int, default=2_000, help="events of an unmeasured first pass")
    parser.add_argument("--floor", type=int, default=100_000, help="page views that start nothing (0: skip)")
    parser.add_argument("--live-heap", action="store_true", help="never freeze the states the bench holds (see FREEZE_EVERY)")
    args = parser.parse_args()
    freeze_every = 0 if args.live_heap else FREEZE_EVERY
    began = time.perf_counter()
    rng = random.Random(args.seed)
    catalog = Catalog.of(make_automations(args.automations, rng))
    states = make_learners(args.learners, rng)
    events = make_events(args.events, states, args.days, rng)
    print(f"set-up: {args.automations} automations, {args.learners} learners, {args.events} events "
          f"in {time.perf_counter() - began:.1f} s", flush=True)
    gc.collect()
    gc.freeze()  # the set-up objects, as FREEZE_EVERY explains
    if args.warmup and args.repeat:
        run("warm-up", events[: args.warmup], dict(states), catalog, freeze_every)
    passes = []
    for number in range(1, args.repeat + 1):
        gc.collect()
        passes.append(run(f"pass {number}/{args.repeat}", events, dict(states), catalog, freeze_every))
        wall, cpu, emitted = passes[-1]
        print(f"mix pass {number}/{args.repeat}: {args.events} events (+{emitted['fire_timer']} timers fired): "
              f"wall {wall:.2f} s, {args.events / wall:,.0f} events/s; cpu {cpu:.2f} s, {args.events / cpu:,.0f} events/s; "
              f"gc {emitted.pop('gc_ms') / 1000:.2f} s in {emitted.pop('gc_collections')} collections", flush=True)
    if passes:
        print(f"mix, {len(passes)} passes, events/s min / median: wall {_spread(args.events, [p[0] for p in passes])}; "
              f"cpu {_spread(args.events, [p[1] for p in passes])}")
        print("  emitted per pass: " + ", ".join(f"{kind}={count}" for kind, count in sorted(passes[0][2].items())))
    if args.floor and args.repeat:
        page_view = {"type": "user.activity", "data": {"kind": "page_view"}}
        quiet = [replace(e, **page_view) for e in events[: args.floor]]
        gc.collect()
        wall, cpu, emitted = run("floor", quiet, dict(states), catalog, freeze_every)
        print(f"floor: {len(quiet)} page views that start nothing: wall {len(quiet) / wall:,.0f} events/s "
              f"({wall / len(quiet) * 1e6:.1f} us each); cpu {len(quiet) / cpu:,.0f} events/s ({cpu / len(quiet) * 1e6:.1f} us each); "
              f"gc {emitted['gc_ms'] / 1000:.2f} s")


def _spread(count: int, seconds: list[float]) -> str:
    rates = sorted(count / s for s in seconds)
    return f"{rates[0]:,.0f} / {statistics.median(rates):,.0f}"


class _CollectorClock:
    """Wall time the cyclic garbage collector spends during a pass, and its collections.

    Reported apart because a worker keeps learner states serialised: its full
    collections walk a small heap, not the 100,000 live states this bench holds.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._began = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began
            self.collections += 1


def run(
    label: str, events: list[SchoolEvent], states: dict[str, LearnerState], catalog: Catalog, freeze_every: int
) -> tuple[float, float, Counter]:
    """Every event, and every timer that comes due before it (as the timer agent would fire it).

    Returns wall seconds, CPU seconds and the count of each command and engine event
    (and "gc_ms", the collector's share of the wall time).
    """
    emitted: Counter[str] = Counter()
    timers: dict[str, Timer] = {}
    due: list[tuple[datetime, str]] = []
    collector = _CollectorClock()
    gc.callbacks.append(collector)
    started, cpu_started = time.perf_counter(), time.process_time()
    report_at = started + PROGRESS_EVERY
    for done, event in enumerate(events, 1):
        while due and due[0][0] < event.occurred_at:
            _, timer_id = heapq.heappop(due)
            timer = timers.pop(timer_id, None)
            if timer is not None:
                _handle(FireTimer(timer=timer), f"{timer.school}:{timer.user}", states, catalog, timer.due_at, emitted, timers, due)
        key = f"{event.school}:{event.user}"
        _handle(HandleSchoolEvent(event=event), key, states, catalog, event.occurred_at, emitted, timers, due)
        if freeze_every and done % freeze_every == 0:
            gc.freeze()
        if done % 1000 == 0 and time.perf_counter() > report_at:
            elapsed = time.perf_counter() - started
            print(f"  {label}: {done:,} / {len(events):,} events, {done / elapsed:,.0f} events/s so far", file=sys.stderr, flush=True)
            report_at += PROGRESS_EVERY
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    gc.callbacks.remove(collector)
    emitted["gc_ms"], emitted["gc_collections"] = round(collector.seconds * 1000), collector.collections
    return wall, cpu, emitted


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
