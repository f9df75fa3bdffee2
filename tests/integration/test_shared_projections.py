"""Several API servers on one PostgreSQL, the fold shared by a consumer group of projectors.

Two `automations projector run` members fold an isolated run-status topic
into one PostgreSQL database (a throwaway cluster) while two API servers
started with AUTOMATIONS_PROJECTOR=off read it: every record counted once
whoever folded its partition, the store equal to the fold of the topic from
offset 0, and both servers answering what the store holds.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from processors.kafka_io import ensure_topics
from projections import sql_queries
from projections.store import ProjectionStore
from tests.integration.api_harness import ApiServer
from tests.integration.harness import delete_topics, isolated_settings
from tests.integration.test_projector_crash import PARTITIONS, oracle, produce, start_projector

pytestmark = pytest.mark.integration
RUNS = 400


class ReaderOnly:
    """What ApiServer needs of a worker: the topics' environment; the server does not fold."""

    def __init__(self, settings) -> None:
        self.settings = settings

    def env(self) -> dict[str, str]:
        import os

        return {**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": self.settings.bootstrap_servers,
                "AUTOMATIONS_TOPIC_PREFIX": self.settings.topics.prefix, "AUTOMATIONS_APP_ID": self.settings.app_id,
                "AUTOMATIONS_PARTITIONS": str(self.settings.partitions), "AUTOMATIONS_PROJECTOR": "off"}


def test_two_projectors_and_two_api_servers_share_one_postgresql(postgres, tmp_path):
    settings = isolated_settings(PARTITIONS)
    asyncio.run(ensure_topics(settings))
    url = postgres.create_database("shared")
    projectors, servers = [], []
    try:
        total = produce(settings, RUNS)
        store = ProjectionStore(url)
        store.migrate()
        topic = settings.topics.run_status
        # given two members of the projectors' group folding the topic
        projectors = [start_projector(settings, url, tmp_path / f"projector-{n}.log") for n in range(2)]
        deadline = time.monotonic() + 180
        while sum(store.offsets(topic).values()) < total:
            assert time.monotonic() < deadline, (tmp_path / "projector-0.log").read_text()[-2000:]
            time.sleep(0.1)
        # then each record counted once, and the store is the fold from offset 0
        assert sum(applied for applied, _ in store.counts(topic).values()) == total
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == oracle(settings)
        # and API servers that do not fold answer from it, alike
        for n in range(2):
            folder = tmp_path / f"api-{n}"
            folder.mkdir()
            server = ApiServer(ReaderOnly(settings), folder, ["s"])
            server.projections_url = url
            servers.append(server.start())
        with store.connect() as conn:
            runs = sql_queries.runs_of_automation(conn, "s", "a1", limit=50)
            learner = sql_queries.learner_history(conn, "s", "learner-10")
        for server in servers:
            assert server.school("s", "GET", "/automations/a1/runs?limit=50") == (200, {"automation_id": "a1", "runs": runs})
            assert server.school("s", "GET", "/learners/learner-10/runs") == (200, learner)
            status, progress = server.operator("GET", "/operator/projections")
            assert status == 200 and progress["projector"] is False and progress["records_applied"] == total
            assert server.operator("POST", "/operator/projections/rebuild")[0] == 409
        store.close()
    finally:
        for server in servers:
            server.stop()
        for projector in projectors:
            projector.send_signal(signal.SIGTERM)
            projector.wait(30)
        delete_topics(settings)
