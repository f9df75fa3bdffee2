"""Finishing deletes: remove an automation once its last learner has left.

A periodic check removes every finishing automation whose set of live runs
(`processors.live_runs_processor`) is empty, through the same lifecycle
decider as the CLI: on the worker that holds the automation's partition of
the automation-runs topic, once that worker has processed and committed every
run start and end there so far (a start not yet taken in would make the set
look empty too early).
"""

from __future__ import annotations

from engine import lifecycle as lc
from processors import definitions_log
from processors.app import clock, settings
from processors.definitions_table import definitions
from processors.learner_processor import partition_of
from processors.live_runs_processor import LiveRunsProcessor, has_live_runs
from processors.periodic import every
from processors.stream.task import StreamTask
from processors.stream_host import host

CHECK_INTERVAL = 2.0


def empty_finishing_automations(task: StreamTask) -> list[str]:
    """Finishing automations without a live run, as the worker holding their partition sees
    once it has taken in every run start and end sent there so far."""
    topic = settings.topics.automation_runs
    empty = []
    for automation in definitions.catalog.finishing():
        key = f"{automation.school}:{automation.id}".encode()
        partition = partition_of(key, settings.partitions)
        if (topic, partition) not in task.owned or not task.caught_up(topic, partition):
            continue
        if not has_live_runs(task.store(LiveRunsProcessor.name, partition), key):
            empty.append(automation.id)
    return empty


@every(CHECK_INTERVAL)
async def remove_finished_automations() -> None:
    if not definitions.is_ready or host.task is None:
        return
    for automation_id in empty_finishing_automations(host.task):
        # A refusal (already removed by another pass or an operator) is fine.
        await definitions_log.execute(settings, lc.FinishDeletion(automation_id=automation_id, now=clock.now()))
