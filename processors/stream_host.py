"""The stream task inside the Faust app: built from the settings, started once definitions are loaded.

Owns the wiring of the worker's processors (learners, live runs, broadcasts)
into one `processors.stream.task.StreamTask`, its transactional id, and its
life: it starts after the definitions are loaded (no school event meets a
half-loaded catalog) and stops with the app. The transactional id is the app
id plus the worker's instance id (`AUTOMATIONS_INSTANCE_ID`, by default the
host name and web port), so a worker started again in the same place, on its
data folder or an empty one, fences its own earlier self at once and aborts a
transaction a `kill -9` left open (else that transaction would hold back every
`read_committed` reader of its partitions until it timed out); fencing between
workers comes from the consumer group (KIP-447). An instance id set in
`AUTOMATIONS_INSTANCE_ID` also makes the worker a static member of its group:
back within its session timeout, it takes its partitions again without a
rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from pathlib import Path

from mode import Service

from processors import agent_health, metrics
from processors.app import app, clock, settings
from processors.broadcasts_processor import BroadcastsProcessor
from processors.definitions_table import definitions
from processors.learner_processor import LearnerProcessor
from processors.live_runs_processor import LiveRunsProcessor
from processors.stream.task import StreamTask, TaskConfig

log = logging.getLogger(__name__)


def instance_id() -> str:
    """Who this worker is among the app's workers: the same after a restart in the same place."""
    return settings.instance_id or f"{socket.gethostname()}-{settings.web_port}"


def build_task() -> StreamTask:
    topics = settings.topics
    data_dir = Path(settings.data_dir) / "stream"
    config = TaskConfig(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.app_id,
        transactional_id=f"{settings.app_id}-{instance_id()}",
        instance_id=settings.instance_id or None,
        data_dir=data_dir,
        changelog_prefix=settings.app_id,
        max_batch=settings.batch_size,
        poll_timeout=settings.poll_interval,
        punctuate_budget=settings.timers_per_batch,
        cached_entries=settings.cached_entries,
        session_timeout=settings.session_timeout,
        transaction_timeout=settings.transaction_timeout,
    )
    processors = [
        LearnerProcessor(topics, settings.partitions, definitions, clock, settings.timers_per_batch),
        LiveRunsProcessor(topics, clock),
        BroadcastsProcessor(topics, settings.partitions, clock),
    ]
    return StreamTask(config, processors, on_failure=lambda error: agent_health.crashed("stream-task", error, time.monotonic()),
                      on_batch=_batch_done)


def _batch_done(records: int, seconds: float) -> None:
    metrics.observe("automations_batch_records", records)
    metrics.observe("automations_batch_seconds", seconds)


class StreamHost(Service):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.task: StreamTask | None = None

    async def on_start(self) -> None:
        self.add_future(self._start_when_ready())

    async def _start_when_ready(self) -> None:
        await definitions.ready()
        self.task = build_task()
        self.task.start()
        log.info("stream task started (group %s)", settings.app_id)

    async def on_stop(self) -> None:
        # Container platforms kill after 30 s; the stop must end in every state of the broker.
        # What a cut-short stop leaves is safe: the stores hold committed state only, and an
        # open transaction is aborted when this worker (or its successor) starts.
        deadline = threading.Timer(STOP_SECONDS, _exit_now)
        deadline.daemon = True
        deadline.start()
        if self.task is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.task.stop, STOP_SECONDS / 2)


STOP_SECONDS = 7.5


def _exit_now() -> None:
    log.warning("the worker did not stop within %.0fs (Kafka away?); exiting now", STOP_SECONDS)
    logging.shutdown()
    os._exit(0)


host = app.service(StreamHost())
