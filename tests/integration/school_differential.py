"""Schools played through a live worker and through `simulate`, compared school by school.

Owns `play_schools`: one live worker (tests/integration/harness.py) gets
every school's automations, saved and activated at the schools' activation
instant, and every school's events, walked through time by
tests/integration/timeline.py; `simulate` gets the same. The verdict of each
school lists how the two paths differ on its runs (ids, triggers, steps,
statuses, exits, errors, actions and their instants) and its declined and
skipped entries, and counts its ties: instants that two or more timers of one
learner were scheduled for in the simulation, whose order the ruling decides
(docs/engine.md, Timer order).

`order_matters(school)` says whether firing a learner's timers of one instant
in timer-id order, as the worker's due-time index did before that ruling,
would change the school's runs: the schools where the ruling is put to the
test. A verdict says which order the live runs match, when they differ from
`simulate`'s: timer-id order (that index), or neither (another cause).
"""

from __future__ import annotations

import asyncio
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from unittest import mock

from engine.commands import Timer
from engine.school_events import SchoolEvent
from engine.simulation import simulate
from engine.timer_queue import TimerQueue, due_millis
from tests.integration.harness import Worker
from tests.integration.timeline import Observed, Timeline, differences, simulated
from tests.integration.timer_order_schools import ACTIVATED_AT, School


@dataclass(frozen=True)
class Verdict:
    school: str
    what: str
    runs: int
    ties: int
    differences: list[str]  # live against simulate
    follows: str  # which order the live worker's runs match: "scheduling order", "timer-id order" or "neither"


def ties(school: School, until: datetime) -> int:
    """How many instants two or more timers of one learner were scheduled for (simulated);
    one of them may never fire, its run ended by the other's action."""
    timers: dict[tuple[str, int], set[str]] = defaultdict(set)
    for key, event in simulate(school.automations, school.events, until).log:
        if event.type == "timer_scheduled":
            timers[(key, due_millis(event.timer.due_at))].add(event.timer.id)
    return sum(1 for ids in timers.values() if len(ids) > 1)


def play_schools(
    worker: Worker, schools: list[School], until: datetime, restore_at: datetime | None = None
) -> list[Verdict]:
    """Play every school on `worker` (started, on fresh topics) and through `simulate`.

    With `restore_at`, the worker is stopped at that instant, its data folder
    deleted, and started again, so it goes on with the state it restores from
    its changelogs (the due-time index among it)."""
    worker.clock(pin=ACTIVATED_AT)
    active = [
        worker.save_and_activate(automation, now=ACTIVATED_AT)
        for school in schools
        for automation in school.automations
    ]
    events = [event for school in schools for event in school.events]

    async def play(story: list[SchoolEvent], end: datetime) -> Timeline:
        async with Timeline(worker.settings, lambda instant: worker.clock(pin=instant)) as timeline:
            await timeline.play(story, end)
            return timeline

    if restore_at is not None:
        asyncio.run(play(events, restore_at))
        worker.stop()
        shutil.rmtree(worker.data_dir)
        worker.start()
    # A timeline reads the topics from their beginning: this one sees the whole story.
    timeline = asyncio.run(play([e for e in events if restore_at is None or e.occurred_at > restore_at], until))
    assert not timeline.records["dead_letter"], timeline.records["dead_letter"]
    live, simulation = timeline.observed(), simulated(active, events, until)
    return [_verdict(school, live, simulation, until) for school in schools]


def _verdict(school: School, live: Observed, simulation: Observed, until: datetime) -> Verdict:
    prefix = f"{school.name}-"
    mine, lived = simulation.of_automations(prefix), live.of_automations(prefix)
    problems = differences(lived, mine)
    if not problems:
        follows = "scheduling order"
    elif not differences(lived, simulated_in_timer_id_order(school, until)):
        follows = "timer-id order"
    else:
        follows = "neither"
    return Verdict(
        school=school.name, what=school.what, runs=len(mine.runs), ties=ties(school, until),
        differences=problems, follows=follows,
    )


class _TimerIdOrder(TimerQueue):
    """A learner's timers of one instant in timer-id order: the worker's due index before the ruling."""

    def _tie_break(self, timer: Timer, sequence: int) -> object:
        return timer.id


def simulated_in_timer_id_order(school: School, until: datetime) -> Observed:
    """The school simulated with a learner's timers of one instant fired in timer-id order."""
    with mock.patch("engine.simulation.TimerQueue", _TimerIdOrder):
        return simulated(school.automations, school.events, until)


def order_matters(school: School, until: datetime) -> list[str]:
    """How the school's runs would differ if ties fired in timer-id order (empty: they would not)."""
    return differences(simulated_in_timer_id_order(school, until), simulated(school.automations, school.events, until))
