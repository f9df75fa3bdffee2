"""Re-keys run starts and ends by automation, for the finishing agent.

The run-status topic is keyed by learner, but "is anyone still inside
automation A?" is a question about A across all learners. This agent
forwards each run start and each terminal status change, unchanged, to the
automation-runs topic keyed `school:automation`, so one partition sees every
run of an automation.
"""

from __future__ import annotations

from processors.app import app, automation_runs_topic, run_status_topic
from processors.dead_letters import decode_or_dead_letter

TERMINAL = {"fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled"}


def membership_change(record: dict) -> bool:
    """Does this run-status record start or end a run?"""
    if record["kind"] == "run_started":
        return True
    return record["kind"] == "run_status_changed" and record.get("status") in TERMINAL


@app.agent(run_status_topic, concurrency=1)
async def run_membership(stream):
    async for event in stream.events():
        record = await decode_or_dead_letter("run_status", event)
        if record is None:
            continue
        if record.get("run_id") and membership_change(record):
            key = f"{record['school']}:{record['automation_id']}".encode()
            await automation_runs_topic.send(key=key, value=event.value)
