"""The guide's common use cases, end to end on Kafka with the controlled clock.

Given one of the guide's templates, saved and activated on a real worker;
when the learners' events of tests/integration/fixtures/<use case>.yaml arrive
and the worker's clock walks through every wait; then each learner's run
ends as the guide promises, with every action at the instant it is due:

- onboarding: waits for a duration and until a weekday, a branch taken both
  ways, an exit on the goal, leads ignored;
- inactivity re-engagement: the inactivity trigger (re-checked after activity),
  a condition that declines, an exit on activity, a time-of-day wait in New York;
- certificate reminders: waits until a date from a user field with a
  run-before offset in days and weeks, a passed date continuing at once, a
  missing field failing the run, a new certificate exiting the old run;
- upsell: a trigger condition, a branch on a field taken both ways, exits that
  cancel the remaining steps.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.fixtures import use_cases
from tests.integration.timeline import Timeline

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", use_cases.FILES, ids=lambda path: path.stem)
def test_use_case_runs_as_the_guide_says(start_worker, path):
    case = use_cases.load(path)
    worker = start_worker(partitions=4)
    worker.clock(pin=case.activated_at)
    worker.save_and_activate(case.automation, now=case.activated_at)

    async def play() -> Timeline:
        async with Timeline(worker.settings, lambda instant: worker.clock(pin=instant)) as timeline:
            await timeline.play(case.events, case.until)
            return timeline

    timeline = asyncio.run(play())

    problems = use_cases.check(case, timeline.observed())
    assert not problems, f"{case.name} on Kafka:\n" + "\n".join(problems)
    assert not timeline.records["dead_letter"], timeline.records["dead_letter"]
