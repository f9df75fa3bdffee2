"""Crash test: kill -9 the worker during a flow of 1,000 learners with pending waits; nothing is lost.

The short form of bench/chaos.py (read it for the long one). Given the short
crash flow (tests/integration/fixtures/definitions/crash-flow-short.yaml: an
email, a 1-hour wait, a tag, a 1-day wait, a branch taken both ways) active
for 1,000 learners on 8 partitions; when the worker is killed with SIGKILL
three times, each in the middle of an instant's work (the enrollments, the
1-hour timers, the 1-day timers; the last restart on an empty data folder,
so the state comes back from the changelogs alone); then, compared with
`simulate` on the same events: no run is lost or different (steps, status,
every action's key, target and instant), no action is lost, no timer is left
behind, the worker's set of live runs (what a finishing delete waits on)
matches, and a `read_committed` consumer sees no action and no run-status
record twice: each batch's outputs, state and input offsets are one Kafka
transaction, so what a killed worker had not committed is never seen.
"""

from __future__ import annotations

import pytest

from bench import chaos

pytestmark = pytest.mark.integration

LEARNERS, KILLS = 1000, 3


def test_kill_9_three_times_during_a_flow_of_1000_learners_loses_nothing(tmp_path, record_property):
    report = chaos.run(LEARNERS, KILLS, wipes=1, partitions=8, flow="short", folder=tmp_path, keep_topics=False)
    print("\n".join(report.lines()))
    record_property("duplicate_actions", report.duplicate_actions)
    record_property("duplicate_statuses", report.duplicate_statuses)

    assert [kill.phase for kill in report.kills] == ["enrollments", "1-hour timers", "1-day timers"]
    assert all(kill.seen < kill.expected for kill in report.kills), "every kill lands mid-flow"
    assert all(kill.pending_timers > 0 for kill in report.kills), "with waits pending"
    assert report.runs_expected == report.runs_seen == LEARNERS
    assert not report.runs_lost and not report.runs_unexpected
    assert not report.runs_different, report.runs_different[:3]
    assert report.actions_expected == report.actions_unique == 3 * LEARNERS
    assert not report.actions_lost and not report.actions_unexpected
    assert report.duplicate_actions == 0 and not report.duplicates_differing, report.duplicates_differing[:3]
    assert report.duplicate_statuses == 0
    assert not report.timers_left_pending, report.timers_left_pending[:3]
    assert report.dead_letters == 0
    assert report.live_runs_counted == report.live_runs_expected, "every run start and end taken in"
