"""Kafka's own tools, shipped with the broker's jars (`automations broker tool NAME ARGS`),
against the real broker: the consumer-groups and configs tools the README sends
operators to, and the console producer and consumer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from processors.kafka_io import ensure_topics
from tests.integration.harness import ROOT, delete_topics, isolated_settings

pytestmark = pytest.mark.integration


def tool(settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": settings.bootstrap_servers}
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), "broker", "tool", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def settings():
    settings = isolated_settings(partitions=2)
    asyncio.run(ensure_topics(settings))
    yield settings
    delete_topics(settings)


def test_the_consumer_groups_tool_describes_a_groups_offsets(settings):
    # given a group that committed offset 0 on partition 1 of the school events
    group = f"{settings.app_id}-tools"

    async def commit() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            partition = TopicPartition(settings.topics.school_events, 1)
            consumer.assign([partition])
            await consumer.commit({partition: 0})
        finally:
            await consumer.stop()

    asyncio.run(commit())

    # when the README's command describes it
    result = tool(settings, "kafka-consumer-groups", "--describe", "--group", group)

    # then the tool ran on the broker and shows the group's topic, partition and offset
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(group)]
    assert [row[:4] for row in rows] == [[group, settings.topics.school_events, "1", "0"]], result.stdout


def test_the_configs_tool_reads_and_alters_a_topics_retention(settings):
    kept = tool(settings, "kafka-configs", "--entity-type", "topics", "--entity-name", settings.topics.run_status, "--describe")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "retention.ms=-1" in kept.stdout

    # the README's fix for a topic an earlier version created with the broker's retention
    altered = tool(settings, "kafka-configs.sh", "--entity-type", "topics", "--entity-name", settings.topics.actions,
                   "--alter", "--add-config", "retention.ms=-1")
    assert altered.returncode == 0, altered.stdout + altered.stderr
    described = tool(settings, "kafka-configs", "--entity-type", "topics", "--entity-name", settings.topics.actions, "--describe")
    assert "retention.ms=-1" in described.stdout, described.stdout + described.stderr


def test_the_console_producer_and_consumer_round_trip_a_record(settings):
    topic = settings.topics.control
    produced = tool(settings, "kafka-console-producer", "--topic", topic, "--property", "parse.key=true",
                    "--property", "key.separator=|", stdin="s1:u1|hello from the tools\n")
    assert produced.returncode == 0, produced.stdout + produced.stderr

    consumed = tool(settings, "kafka-console-consumer", "--topic", topic, "--from-beginning", "--max-messages", "1",
                    "--property", "print.key=true", "--timeout-ms", "30000")
    assert consumed.returncode == 0, consumed.stdout + consumed.stderr
    assert consumed.stdout.splitlines() == ["s1:u1\thello from the tools"]
