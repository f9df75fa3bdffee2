"""Differential on timer order: the live worker and `simulate` fire a learner's timers
of one instant in the same order, the order they were scheduled (docs/engine.md,
Timer order), so they agree run for run where that order decides the outcome.

One live worker plays, each as its own school (tests/integration/timer_order_schools.py):
the issue's reproduction for eight learners (two runs wait until the same 09:00
and the first one's tag ends the second through its exit; the learners' run ids,
hence timer ids, sort either way round), an inactivity timer re-armed onto a
wait's instant, and a few seeded random schools chosen because firing their
ties in timer-id order would change their runs. `bench/timer_order.py` plays
many seeds.
"""

from __future__ import annotations

import pytest

from tests.integration.harness import Worker, delete_topics, isolated_settings
from tests.integration.school_differential import order_matters, play_schools
from tests.integration.timer_order_schools import FIXED, UNTIL, random_school

pytestmark = pytest.mark.integration

# Seeds whose runs the order of ties decides (order_matters), checked below.
CI_SEEDS = (2, 7, 12)
SCHOOLS = [make() for make in FIXED] + [random_school(seed) for seed in CI_SEEDS]

TIMER_ID_ORDER = pytest.mark.xfail(
    strict=False,
    reason="the live worker fires a learner's timers of one instant in timer-id order (its due index is keyed "
    "due time | timer id), not in the order they were scheduled; the due index that orders them by a "
    "per-learner scheduling sequence lands separately: remove this mark with it",
)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timer-order")
    worker = Worker(isolated_settings(partitions=4), data_dir=folder / "worker", log_path=folder / "worker.log")
    try:
        worker.start()
        yield {verdict.school: verdict for verdict in play_schools(worker, SCHOOLS, UNTIL)}
    finally:
        worker.stop()
        delete_topics(worker.settings)


@pytest.mark.parametrize("school", SCHOOLS, ids=lambda school: school.name)
def test_the_order_of_ties_decides_each_school(school):
    # Else a school would pass whatever order the worker fired its ties in.
    assert order_matters(school, UNTIL), f"{school.name}: no tie whose order changes a run"


@TIMER_ID_ORDER
@pytest.mark.parametrize("school", SCHOOLS, ids=lambda school: school.name)
def test_live_worker_and_simulation_agree_where_timers_come_due_together(verdicts, school):
    verdict = verdicts[school.name]
    assert verdict.runs and verdict.ties
    assert not verdict.differences, (
        f"{school.name} ({verdict.what}): {len(verdict.differences)} difference(s), {verdict.ties} ties:\n"
        + "\n".join(verdict.differences)
    )
