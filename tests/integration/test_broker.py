"""Integration checks that the project's local broker (python -m broker.kafka start)
answers real Kafka requests at 127.0.0.1:$AUTOMATIONS_BROKER_PORT, and takes the
topics' settings as the project creates them."""

import asyncio
import os
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from broker import kafka
from processors.kafka_io import ensure_topics
from tests.integration.harness import ROOT, delete_topics, isolated_settings

pytestmark = pytest.mark.integration


def test_broker_answers_api_versions():
    port = kafka.resolve_port()
    try:
        versions = kafka.api_versions("127.0.0.1", port, timeout=5)
    except OSError as exc:
        pytest.fail(f"no broker at 127.0.0.1:{port} ({exc}); run: python -m broker.kafka start")
    for api in (0, 1, 3, 19):  # Produce, Fetch, Metadata, CreateTopics: what the engine uses
        assert api in versions, api


def test_topics_are_created_up_front_with_their_retention_and_cleanup_policy():
    settings = isolated_settings()
    topics = settings.topics

    async def configs() -> dict[str, dict[str, str]]:
        await ensure_topics(settings)
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            names = [topics.run_status, topics.dead_letter, topics.actions, topics.definitions]
            answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
            found = {}
            for answer in answers:
                for resource in answer.resources:  # (error code, message, type, name, entries)
                    name, entries = resource[3], resource[4]
                    found[name] = {entry[0]: entry[1] for entry in entries}
            return found
        finally:
            await admin.close()

    try:
        found = asyncio.run(configs())
    finally:
        delete_topics(settings)
    assert found[topics.run_status]["retention.ms"] == "-1"
    assert found[topics.dead_letter]["retention.ms"] == "-1"
    assert found[topics.actions]["retention.ms"] != "-1", "the rest take the broker's retention"
    assert found[topics.definitions]["cleanup.policy"] == "compact"


def test_sending_to_topics_no_worker_has_created_says_so_at_once(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text('{"id": "e1", "type": "user.tag_added", "school": "s1", "user": "u1", '
                      '"occurred_at": "2027-03-01T09:00:00Z", "data": {"tag": "x"}}\n')
    settings = isolated_settings()  # a prefix nobody created topics for
    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "events", "send", str(events)], capture_output=True, text=True,
        env={**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
             "AUTOMATIONS_TOPIC_PREFIX": settings.topics.prefix}, timeout=30)

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"error: topic {settings.topics.school_events} does not exist" in result.stderr


def test_a_worker_on_topics_of_another_partition_count_is_refused_before_anything_is_created(tmp_path):
    # given topics created with 2 partitions
    settings = isolated_settings(partitions=2)
    asyncio.run(ensure_topics(settings))
    try:
        # when a worker starts with 3 (and a new app id, whose changelogs would get 3)
        env = {**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": settings.bootstrap_servers, "AUTOMATIONS_PARTITIONS": "3",
               "AUTOMATIONS_TOPIC_PREFIX": settings.topics.prefix, "AUTOMATIONS_APP_ID": f"{settings.app_id}-other",
               "AUTOMATIONS_DATA_DIR": str(tmp_path / "data")}
        result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "worker"], capture_output=True, text=True,
                                env=env, timeout=60)

        # then it stops with one line naming a topic, its count and the setting, and creates nothing
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: 8 topic(s) have another partition count than AUTOMATIONS_PARTITIONS=3: "), last
        assert f"{settings.topics.school_events} has 2" in last and "set it to the count they were created with" in last

        async def names() -> set[str]:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
            await admin.start()
            try:
                return set(await admin.list_topics())
            finally:
                await admin.close()

        assert not any(name.startswith(f"{settings.app_id}-other") for name in asyncio.run(names()))
        # and the same count as the topics' is taken
        assert asyncio.run(ensure_topics(settings)) == []
    finally:
        delete_topics(settings)


def test_another_app_ids_group_on_the_school_events_is_named_so_a_worker_can_warn():
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from processors.kafka_io import other_engines

    settings = isolated_settings(partitions=2)
    asyncio.run(ensure_topics(settings))

    async def commit_as(group: str, topic: str = settings.topics.school_events) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            partition = TopicPartition(topic, 1)
            consumer.assign([partition])
            await consumer.commit({partition: 0})
        finally:
            await consumer.stop()

    try:
        # given no engine yet, then this worker's own group, a group that reads another topic,
        # then another app id's
        assert asyncio.run(other_engines(settings)) == []
        asyncio.run(commit_as(settings.app_id))
        asyncio.run(commit_as(f"{settings.app_id}-analytics", settings.topics.run_status))
        assert asyncio.run(other_engines(settings)) == []
        asyncio.run(commit_as(f"{settings.app_id}-typo"))
        # then only the other one is named
        assert asyncio.run(other_engines(settings)) == [f"{settings.app_id}-typo"]
    finally:
        delete_topics(settings)


def test_starting_a_running_broker_fresh_stops_it_and_wipes_its_data(tmp_path):
    from tests.integration.harness import free_broker_port

    env = {**os.environ, "AUTOMATIONS_KAFKA_HOME": str(tmp_path / "home"), "AUTOMATIONS_BROKER_PORT": str(free_broker_port())}

    def broker(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "broker.kafka", *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    try:
        broker("start", "--wait", "120")
        marker = tmp_path / "home" / "data" / "left-from-before"
        marker.write_text("x")

        again = broker("start", "--fresh", "--wait", "120")

        assert "to start it fresh" in again.stdout and "already running" not in again.stdout
        assert not marker.exists()
        assert "running" in broker("status").stdout
    finally:
        subprocess.run([sys.executable, "-m", "broker.kafka", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=120)


def test_a_port_held_by_our_own_broker_is_named_as_ours(tmp_path):
    # given the running test broker, and a second home asked to start on its port
    port = kafka.resolve_port()
    running = kafka.status()
    assert running.running, "the test broker runs in its own home (AUTOMATIONS_KAFKA_HOME)"
    env = {**os.environ, "AUTOMATIONS_KAFKA_HOME": str(tmp_path / "other"), "AUTOMATIONS_BROKER_PORT": str(port)}

    result = subprocess.run([sys.executable, "-m", "broker.kafka", "start"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)

    # then it refuses, naming that broker as ours (pid and home), not "another process"
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: 127.0.0.1:{port} is already in use by our own Kafka broker (pid {running.pid}, "
                           f"home {kafka.home()})"), line
    assert "another process" not in line
