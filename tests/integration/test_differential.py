"""Differential: the live worker on Kafka and `simulate` agree, run for run.

Given the same definitions, active since the same instant, and the same school
events, the worker (its clock walked through every due time, see
tests/integration/timeline.py) and the simulator (engine.simulation) must give
the same runs (ids, triggers, the steps each went through), the same statuses,
exits and errors, the same entries declined or skipped, and the same actions:
idempotency keys, targets and the instant each was emitted.

The events are the guide's use cases (each in its own school) plus a seeded
random school where seven automations meet a dozen learners' random events,
so triggers, exits, branches, waits of every kind, derived events and the
inactivity timer interleave in ways nobody wrote down.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

import pytest

from engine.definitions import Automation
from engine.documents import load_document
from engine.school_events import SchoolEvent
from tests.integration.fixtures import use_cases
from tests.integration.timeline import Timeline, differences, simulated

pytestmark = pytest.mark.integration

ACTIVATED_AT = datetime(2027, 3, 1, tzinfo=timezone.utc)
UNTIL = ACTIVATED_AT + timedelta(days=40)
SEED, LEARNERS = 6, 12
MIX_SCHOOL = "mix"
MIX_AUTOMATIONS = [
    "examples/templates/onboarding.yaml",
    "examples/templates/inactivity.yaml",
    "examples/templates/certificate-expiry.yaml",
    "examples/templates/upsell.yaml",
    "examples/automations/course-onboarding.yaml",
    "examples/automations/welcome-tag.yaml",
    "examples/automations/certificate-renewal.yaml",
]
# (weight, event type, payload) of the random learners' events after registering.
VOCABULARY = [
    (3, "user.tag_added", lambda r: {"tag": r.choice(["new-student", "customer", "no-reminders", "python-101-started", "renewed"])}),
    (1, "user.tag_removed", lambda r: {"tag": r.choice(["customer", "new-student"])}),
    (3, "course.enrolled", lambda r: {"course": r.choice(["python-101", "getting-started", "python-201", "certificate-renewal"])}),
    (2, "course.completed", lambda r: {"course": r.choice(["python-101", "getting-started"])}),
    (1, "lesson.completed", lambda r: {"course": "python-101", "lesson": "l1"}),
    (2, "user.activity", lambda r: {"kind": "login"}),
    (1, "product.purchased", lambda r: {"product": "python-201-bundle"}),
    (1, "program.enrolled", lambda r: {"program": "foundations"}),
    (2, "certificate.issued", lambda r: {"certificate": f"c{r.randrange(100)}"}),
]


def mix_automations() -> list[Automation]:
    automations = []
    for name in MIX_AUTOMATIONS:
        path = use_cases.ROOT / name
        raw = load_document(path.read_text(), path.name)
        # Automation ids are unique across schools; the use cases hold the plain ones.
        automations.append(Automation.model_validate({**raw, "id": f"{MIX_SCHOOL}-{raw['id']}", "school": MIX_SCHOOL}))
    return automations


def mix_events(seed: int, learners: int) -> list[SchoolEvent]:
    """Each learner registers in the first days, then 2 to 6 random events over a month.

    A learner's events share one second-of-minute (its number), so no two
    learners' events coincide; the timeline refuses a timer due exactly at its
    learner's event, which this seed avoids.
    """
    rng = random.Random(seed)
    raw = []
    for number in range(learners):
        user = f"u{number:02d}"

        def at(first_day: int, last_day: int) -> datetime:
            return ACTIVATED_AT + timedelta(
                days=rng.randint(first_day, last_day), hours=rng.randint(6, 22), minutes=rng.randrange(60), seconds=number + 1
            )

        fields = {"lessons_completed_last_30_days": rng.randint(0, 20)}
        if rng.random() < 0.8:
            expiry = ACTIVATED_AT + timedelta(days=rng.randint(10, 120))
            fields["certificate_expires_at"] = expiry.date().isoformat()
            fields["certificate_expires_on"] = expiry.date().isoformat()
        raw.append((user, at(0, 2), "user.registered", {"email": f"{user}@example.org", "fields": fields}, "user"))
        for _ in range(rng.randint(2, 6)):
            _, kind, payload = rng.choices(VOCABULARY, [weight for weight, _, _ in VOCABULARY])[0]
            subject = "lead" if rng.random() < 0.05 else "user"
            raw.append((user, at(1, 30), kind, payload(rng), subject))
    return [
        SchoolEvent(id=f"{MIX_SCHOOL}-{n}", type=kind, school=MIX_SCHOOL, user=user, subject=subject, occurred_at=at, data=data)
        for n, (user, at, kind, data, subject) in enumerate(raw)
    ]


def test_live_worker_and_simulation_give_the_same_runs_statuses_and_actions(start_worker):
    cases = [use_cases.load(path) for path in use_cases.FILES]
    assert all(case.activated_at == ACTIVATED_AT for case in cases)
    automations = [case.automation for case in cases] + mix_automations()
    events = [event for case in cases for event in case.events] + mix_events(SEED, LEARNERS)
    worker = start_worker(partitions=4)
    worker.clock(pin=ACTIVATED_AT)
    active = [worker.save_and_activate(automation, now=ACTIVATED_AT) for automation in automations]

    async def play() -> Timeline:
        async with Timeline(worker.settings, lambda instant: worker.clock(pin=instant)) as timeline:
            await timeline.play(events, UNTIL)
            return timeline

    timeline = asyncio.run(play())
    live, simulation = timeline.observed(), simulated(active, events, UNTIL)

    mix = [run for run in simulation.runs.values() if run.automation_id.startswith(MIX_SCHOOL)]
    assert len(mix) >= 40 and {run.status for run in mix} >= {"fulfilled", "pending", "completed_via_exit", "failed"}, (
        "the random school should exercise every outcome"
    )
    problems = differences(live, simulation)
    assert not problems, f"{len(problems)} difference(s), {timeline.timer_steps} timer steps:\n" + "\n".join(problems)
    assert not timeline.records["dead_letter"], timeline.records["dead_letter"]
