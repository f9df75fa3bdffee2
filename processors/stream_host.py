"""The stream task inside the Faust app: built from the settings, started once definitions are loaded.

Owns the wiring of the worker's processors (learners, live runs, broadcasts)
into one `processors.stream.task.StreamTask`, its transactional id, and its
life: it starts after the definitions are loaded (no school event meets a
half-loaded catalog) and stops with the app. The transactional id is the app
id plus an instance id kept in the data folder, so a worker restarted on its
folder fences its own earlier self at once (aborting a transaction a
`kill -9` left open), while fencing between workers comes from the consumer
group (KIP-447).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

from mode import Service

from processors import agent_health
from processors.app import app, clock, settings
from processors.broadcasts_processor import BroadcastsProcessor
from processors.definitions_table import definitions
from processors.learner_processor import LearnerProcessor
from processors.live_runs_processor import LiveRunsProcessor
from processors.stream.task import StreamTask, TaskConfig

log = logging.getLogger(__name__)


def instance_id(data_dir: Path) -> str:
    """This data folder's worker instance, made once (a new folder is a new instance)."""
    path = data_dir / "instance-id"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(uuid.uuid4().hex[:12])
    return path.read_text().strip()


def build_task() -> StreamTask:
    topics = settings.topics
    data_dir = Path(settings.data_dir) / "stream"
    config = TaskConfig(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.app_id,
        transactional_id=f"{settings.app_id}-{instance_id(data_dir)}",
        data_dir=data_dir,
        changelog_prefix=settings.app_id,
        max_batch=settings.batch_size,
        poll_timeout=settings.poll_interval,
        session_timeout=settings.session_timeout,
        transaction_timeout=settings.transaction_timeout,
    )
    processors = [
        LearnerProcessor(topics, settings.partitions, definitions, clock, settings.timers_per_batch),
        LiveRunsProcessor(topics, clock),
        BroadcastsProcessor(topics, settings.partitions, clock),
    ]
    return StreamTask(config, processors, on_failure=lambda error: agent_health.crashed("stream-task", error, time.monotonic()))


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
        if self.task is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.task.stop)


host = app.service(StreamHost())
