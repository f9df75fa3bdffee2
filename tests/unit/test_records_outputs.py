"""Run starts and ends leave the learner processor twice (processors.records.output_records).

Given a run that starts, waits and ends, when its events become output
records, then each start and each end goes to the run-status topic and, the
same bytes, to the automation-runs topic, keyed `school:automation`; a status
that neither starts nor ends a run goes to run status only.
"""

from __future__ import annotations

from datetime import datetime, timezone

from engine.events import RunStarted, RunStatusChanged
from processors.records import automation_runs_key, output_records
from schemas.codec import decode

AT = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
RUN = {"run_id": "run-1", "school": "school-1", "user": "learner-7", "automation_id": "welcome", "at": AT}


def started() -> RunStarted:
    return RunStarted(**RUN, automation_version=3, mode="asynchronous", trigger_id="t1", trigger_event_id="e1")


def test_a_run_start_and_end_also_go_to_automation_runs_keyed_by_automation():
    events = [started(), RunStatusChanged(**RUN, status="pending"), RunStatusChanged(**RUN, status="fulfilled")]

    outputs = output_records(events, "school-1", "learner-7")

    assert [audience for audience, _ in outputs] == ["run_status", "automation_runs", "run_status", "run_status", "automation_runs"]
    assert outputs[1][1] == outputs[0][1] and outputs[4][1] == outputs[3][1], "the same record"
    assert decode("run_status", outputs[4][1])["status"] == "fulfilled"
    assert {automation_runs_key(value) for audience, value in outputs if audience == "automation_runs"} == {b"school-1:welcome"}


def test_every_way_a_run_ends_counts_as_its_end():
    for status in ("fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled"):
        outputs = output_records([RunStatusChanged(**RUN, status=status)], "school-1", "learner-7")
        assert [audience for audience, _ in outputs] == ["run_status", "automation_runs"], status
