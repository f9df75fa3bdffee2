"""Fixtures for tests on the real broker.

The broker is started by scripts/test.sh (which CI runs). When it does not
answer, integration tests fail when AUTOMATIONS_REQUIRE_BROKER=1 (as in CI and
scripts/test.sh), and are skipped with that reason otherwise (a developer
running `pytest tests/unit` without a broker).
"""

from __future__ import annotations

import os

import pytest

from broker import kafka
from tests.integration.harness import Worker, delete_topics, isolated_settings


@pytest.fixture(scope="session", autouse=True)
def broker_answers():
    port = kafka.resolve_port()
    try:
        kafka.api_versions("127.0.0.1", port, timeout=5)
    except (OSError, kafka.BrokerError) as error:
        message = f"no Kafka broker at 127.0.0.1:{port} ({error}); start one with scripts/test.sh"
        if os.environ.get("AUTOMATIONS_REQUIRE_BROKER") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def start_worker(tmp_path):
    """Start workers on fresh, isolated topics; at the end every one is stopped and
    the topics are deleted (the worker logs stay in the test's tmp_path)."""
    started: list[Worker] = []

    def start(partitions: int = 4, settings=None, name: str = "worker", extra_env: dict | None = None) -> Worker:
        worker = Worker(
            settings or isolated_settings(partitions),
            data_dir=tmp_path / name,
            log_path=tmp_path / f"{name}.log",
            extra_env=extra_env,
        )
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
    for settings in {worker.settings.topics.prefix: worker.settings for worker in started}.values():
        delete_topics(settings)
