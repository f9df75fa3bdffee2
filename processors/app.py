"""The Faust application: its configuration, topics and tables, and the hook that
reports agent crashes (`EngineApp`), nothing else.

Agents live one per file and register themselves on `app` when imported
(`processors.worker` imports them all). Every topic carries raw bytes: the
Avro framing is ours (`schemas.codec`), so Faust never guesses a serializer.
Learner-scoped topics and the tables' changelogs share one partition count,
which is what lets a table write land in the partition of the learner whose
message is being processed.
"""

from __future__ import annotations

import time

import faust

from processors import agent_health, config
from processors.clock import make_clock
from processors.tracked_table import TrackedTable

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
    settings.app_id,
    broker=f"kafka://{settings.bootstrap_servers}",
    store="rocksdb://",
    datadir=settings.data_dir,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    processing_guarantee="at_least_once",
    web_port=settings.web_port,
    web_bind="127.0.0.1",
    web_host="127.0.0.1",
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
    broker_commit_every=200,
    broker_commit_interval=1.0,
    broker_session_timeout=settings.session_timeout,
    # Kafka wants heartbeats at most a third of the session timeout apart.
    broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
    table_standby_replicas=0,
)


def _raw_topic(name: str, partitions: int = settings.partitions) -> faust.TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=False,
    )


topics = settings.topics
school_events_topic = _raw_topic(topics.school_events)
control_topic = _raw_topic(topics.control)
fired_timers_topic = _raw_topic(topics.fired_timers)
delays_topic = _raw_topic(topics.delays)
actions_topic = _raw_topic(topics.actions)
run_status_topic = _raw_topic(topics.run_status)
dead_letter_topic = _raw_topic(topics.dead_letter)
receipts_topic = _raw_topic(topics.receipts)
automation_runs_topic = _raw_topic(topics.automation_runs)
definitions_topic = _raw_topic(topics.definitions, partitions=1)

# The learner processor reads all three inputs as one stream, so a learner's
# events, fired timers and operator commands are applied strictly in order.
learner_inputs = app.topic(
    topics.school_events,
    topics.control,
    topics.fired_timers,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)


def _raw_table(name: str, help_text: str) -> TrackedTable:
    # What app.Table does, with our class: its writes hand over their changelog sends.
    table = app.tables.add(
        TrackedTable(
            app,
            name=name,
            default=None,
            beacon=app.tables.beacon,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            help=help_text,
        )
    )
    # Faust picks a table's serializers from its types (json for plain bytes);
    # raw keeps the stored keys byte-exact, which the due-time index and the
    # per-school key scans rely on.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table


# Names must match processors.kafka_io.TABLES (their changelogs are created up front).
learners_table = _raw_table("learners", "school:user -> learner state and its recent outputs")
# Key = zero-padded due time in ms + "|" + timer id, so RocksDB's key order is due order.
timer_index_table = _raw_table("timers-by-due", "due key -> timer record")
timer_ids_table = _raw_table("timers-by-id", "timer id -> due key, for cancellation")
live_runs_table = _raw_table("live-runs", "school:automation|run -> 1 while the run is live")
