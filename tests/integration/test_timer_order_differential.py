"""Differential on timer order: the live worker and `simulate` fire a learner's timers
of one instant in the same order, the order they were scheduled (docs/engine.md,
Timer order), so they agree run for run where that order decides the outcome.

One live worker plays, each as its own school (tests/integration/timer_order_schools.py):
the issue's reproduction for eight learners (two runs wait until the same 09:00
and the first one's tag ends the second through its exit; the learners' run ids,
hence timer ids, sort either way round), an inactivity timer re-armed onto a
wait's instant, and a few seeded random schools chosen because firing their
ties in timer-id order would change their runs. Another worker plays the two
fixed cases with a restart between scheduling and firing, from the state it
restores from its changelogs. `bench/timer_order.py` plays many seeds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.harness import Worker, delete_topics, isolated_settings
from tests.integration.school_differential import order_matters, play_schools
from tests.integration.timer_order_schools import (
    ACTIVATED_AT,
    FIXED,
    UNTIL,
    inactivity_re_armed_onto_a_wait,
    random_school,
    two_runs_resume_at_nine,
)

pytestmark = pytest.mark.integration

# Seeds whose runs the order of ties decides (order_matters), checked below.
CI_SEEDS = (2, 7, 12)
SCHOOLS = [make() for make in FIXED] + [random_school(seed) for seed in CI_SEEDS]


class LiveRunsDiffer(AssertionError):
    """The live runs differ from simulate's (a worker that does not start or a timeline that
    times out fails otherwise)."""


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


@pytest.mark.parametrize("school", SCHOOLS, ids=lambda school: school.name)
def test_live_worker_and_simulation_agree_where_timers_come_due_together(verdicts, school):
    verdict = verdicts[school.name]
    assert verdict.runs and verdict.ties
    if verdict.differences:
        raise LiveRunsDiffer(
            f"{school.name} ({verdict.what}): {len(verdict.differences)} difference(s), {verdict.ties} ties, "
            f"the live runs as in {verdict.follows}:\n" + "\n".join(verdict.differences)
        )


# Both fixed cases, restored after every tie was scheduled and before any fired: the
# runs wait from 08:00 and 08:10 of the second day until its 09:00; the inactivity
# timer re-armed at 08:00 onto the wait due at 20:00.
RESTORED = [
    two_runs_resume_at_nine(school="restored-nine", day=1),
    inactivity_re_armed_onto_a_wait(school="restored-quiet"),
]
RESTORE_AT = ACTIVATED_AT + timedelta(days=1, hours=8, minutes=30)


def test_ties_keep_their_order_across_a_restart_that_restores_the_worker_state(start_worker):
    verdicts = play_schools(start_worker(partitions=4), RESTORED, UNTIL, restore_at=RESTORE_AT)
    problems = [
        f"{v.school} ({v.what}), the live runs as in {v.follows}:\n" + "\n".join(v.differences)
        for v in verdicts
        if v.differences
    ]
    assert all(v.runs and v.ties for v in verdicts)
    if problems:
        raise LiveRunsDiffer("\n".join(problems))
