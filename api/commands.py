"""Operator actions as commands on Kafka, shared by the HTTP API and the CLI.

Owns the checks made at the edge (only pending, fulfilled and failed runs
can be replayed, and only while their automation exists and is not finishing;
only pending ones cancelled; only a wait step of the flow has learners to
advance), each a reason or None, and the writes: replay and
cancel go to the control topic under the learner's key (the learner
processor applies them in order with the learner's other inputs); advancing
a step goes to the definitions topic, which fans it out to every partition
(DESIGN.md). Nothing here touches state directly; the engine decides again
and refuses what is no longer possible (recorded on the dead-letter topic).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from engine.commands import CancelRun, ReplayRun
from engine.definitions import Automation, find_step, is_wait
from engine.runs import RECENT_FINISHED_KEPT, replay_run_id
from processors import definitions_log
from processors.config import Settings
from processors.kafka_io import produce
from processors.records import control_record
from projections.run_views import REPLAYABLE, RunView


def replay_refusal(run: RunView, automation: Automation | None) -> str | None:
    """The engine's own refusals of a replay (engine.decider), checked before asking it."""
    if run.status not in REPLAYABLE:
        return f"run {run.run_id} is {run.status}; only pending, fulfilled and failed runs can be replayed"
    if run.forgotten:
        return (f"run {run.run_id} finished before the learner's last {RECENT_FINISHED_KEPT} finished runs, "
                "the only ones the engine keeps; it can no longer be replayed")
    if automation is None:
        return f"automation {run.automation_id} no longer exists; its runs cannot be replayed"
    if automation.status == "finishing":
        return f"automation {automation.id} is finishing and accepts no new runs, replays included"
    return None


def cancel_refusal(run: RunView) -> str | None:
    if run.status != "pending":
        return f"run {run.run_id} is {run.status}; only pending runs can be cancelled"
    return None


def missing_step(automation: Automation, step_id: str) -> str | None:
    if find_step(automation.flow, step_id) is None:
        return f"automation {automation.id} has no step {step_id!r}"
    return None


def advance_refusal(automation: Automation, step_id: str) -> str | None:
    """Why the step's learners cannot be advanced: it is missing (`missing_step`) or not a wait."""
    step = find_step(automation.flow, step_id)
    if step is None:
        return missing_step(automation, step_id)
    if not is_wait(step):
        return f"step {step_id} is a {step.type}, not a wait: nobody waits there"
    return None


async def replay(settings: Settings, run: RunView, now: datetime) -> dict:
    """Ask for a new run from the first step, linked to `run`; returns the new run's id."""
    command = ReplayRun(run_id=run.run_id, command_id=f"replay-{uuid.uuid4().hex}")
    await _send_control(settings, command, run, now)
    return {
        "command_id": command.command_id,
        "run_id": run.run_id,
        "new_run_id": replay_run_id(run.run_id, command.command_id),
    }


async def cancel(settings: Settings, run: RunView, now: datetime) -> dict:
    command = CancelRun(run_id=run.run_id, command_id=f"cancel-{uuid.uuid4().hex}")
    await _send_control(settings, command, run, now)
    return {"command_id": command.command_id, "run_id": run.run_id}


async def _send_control(settings: Settings, command, run: RunView, now: datetime) -> None:
    value = control_record(command, run.school, run.user, now)
    await produce(settings, settings.topics.control, [(f"{run.school}:{run.user}", value)])


async def advance(settings: Settings, automation: Automation, step_id: str, now: datetime) -> dict:
    """Every learner waiting in `step_id` moves on; the step stays for future learners."""
    result = await definitions_log.advance_step(settings, automation.id, step_id, now)
    if isinstance(result, str):
        return {"error": result}
    return {"automation_id": automation.id, "step_id": step_id, "version": result["version"]}
