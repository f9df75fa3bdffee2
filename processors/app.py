"""The Faust application: the worker's host, and the hook that reports failures (`EngineApp`).

Faust hosts what is not on the hot path: the CLI's `worker` command, the web
views (`processors.web`), the definitions every worker keeps
(`processors.definitions_table`), periodic checks (`processors.finishing`) and
the stream task that runs the learner processor (`processors.stream_host`).
It owns no agents and no tables, so it joins no consumer group: the stream
task is the engine's consumer group (`AUTOMATIONS_APP_ID`), and Faust's own
app id is that id with `-host`, so the two never share a group.
"""

from __future__ import annotations

import time

import faust

from processors import agent_health, config
from processors.clock import make_clock

settings = config.load()
clock = make_clock(settings.controllable_clock, settings.test_clock_pin)


class EngineApp(faust.App):
    """Faust's app, telling `processors.agent_health` of every agent crash.

    `_on_agent_error` is the hook Faust gives every agent it creates (faust-streaming
    0.15.3); it stays Faust's own, after the crash is on record."""

    async def _on_agent_error(self, agent, exc: BaseException) -> None:
        agent_health.crashed(agent.name, exc, time.monotonic())
        await super()._on_agent_error(agent, exc)


app = EngineApp(
    f"{settings.app_id}-host",
    broker=f"kafka://{settings.bootstrap_servers}",
    store="rocksdb://",
    datadir=settings.data_dir,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    web_port=settings.web_port,
    web_bind="127.0.0.1",
    web_host="127.0.0.1",
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
    # Faust's own group (`APP_ID-host`) consumes nothing, but Faust starts the definitions and
    # the stream task only once it has joined: after a `kill -9`, a long session kept the new
    # worker waiting for the dead one's to time out (a minute, by default). 6 s is Kafka's least.
    broker_session_timeout=6.0,
    broker_heartbeat_interval=2.0,
)

topics = settings.topics
