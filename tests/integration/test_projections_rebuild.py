"""The API server answers while a rebuild deletes its store's rows, and the rebuild ends as a fold from offset 0.

On the real broker and each real store: run-status records of thousands of
runs on an isolated topic, folded by the API server. The test then holds a
lock the rebuild's delete needs (SQLite: the database's write lock;
PostgreSQL: a SHARE lock on the first table it deletes from, seen waiting in
pg_stat_activity) and asks for a rebuild: the delete cannot end while the
lock is held, so whatever the server answers meanwhile (`/ready` naming the
partitions it rebuilds, `/health`, a view) it answers during the rebuild. A
delete run in the event loop would answer nothing until it ended (and on
SQLite give up after its busy timeout, failing the rebuild). Released, the
rebuild ends and the store equals the in-memory fold of the topic from offset 0.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from processors.kafka_io import ensure_topics
from projections import sql_queries
from projections.store import ProjectionStore
from tests.integration.api_harness import ApiServer
from tests.integration.harness import delete_topics, isolated_settings
from tests.integration.test_projector_crash import PARTITIONS, oracle, produce
from tests.integration.test_shared_projections import ReaderOnly

pytestmark = pytest.mark.integration
RUNS = 3000


class Folding(ReaderOnly):
    """The topics' environment, for a server that folds the run-status topic itself."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "AUTOMATIONS_PROJECTOR": "on"}


class HeldLock:
    """A lock the rebuild's first delete waits for, until `release()`."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.sqlite = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
            self.sqlite.execute("BEGIN IMMEDIATE")  # the write lock: WAL readers still read
        else:
            self.engine = create_engine("postgresql+psycopg://" + url.removeprefix("postgresql://"))
            self.holder = self.engine.connect()
            self.holder.execute(text("LOCK TABLE fold_keys IN SHARE MODE"))  # reads go on; a DELETE waits

    def delete_waiting(self) -> bool:
        """Whether a delete waits on the lock (PostgreSQL shows it; SQLite's busy wait is not seen)."""
        if self.url.startswith("sqlite"):
            return True
        with self.engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM fold_keys%'"
            )).scalar_one() > 0

    def release(self) -> None:
        if self.url.startswith("sqlite"):
            self.sqlite.execute("COMMIT")
            self.sqlite.close()
        else:
            self.holder.rollback()
            self.holder.close()
            self.engine.dispose()


def until(what: str, check, server: ApiServer, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout:.0f}s\nAPI log:\n{server.log_tail()}")


def test_the_server_answers_while_a_rebuild_deletes_and_the_rebuild_ends_as_a_fold_from_offset_0(store_url, tmp_path):
    settings = isolated_settings(PARTITIONS)
    asyncio.run(ensure_topics(settings))
    server = ApiServer(Folding(settings), tmp_path, ["s"])
    server.projections_url = store_url
    try:
        total = produce(settings, RUNS)
        server.start(timeout=600)
        until("the topic folded", lambda: server.operator("GET", "/operator/projections")[1]["position"] == total, server, 600)
        runs_before = server.school("s", "GET", "/automations/a1/runs?limit=5")
        assert runs_before[0] == 200 and len(runs_before[1]["runs"]) == 5
        lock = HeldLock(store_url)
        with ThreadPoolExecutor(1) as background:
            try:
                # when a rebuild of every partition begins, and its delete cannot end
                rebuild = background.submit(server.operator, "POST", "/operator/projections/rebuild")
                ready = until("/ready naming the partitions rebuilt",
                              lambda: (answer := server.call("GET", "/ready"))[1].get("rebuilding") and answer, server)
                until("the rebuild's delete waiting on the held lock", lock.delete_waiting, server)
                # then the server answers meanwhile
                assert ready[0] == 503 and ready[1]["rebuilding"] == list(range(PARTITIONS))
                assert server.call("GET", "/health") == (200, {"status": "ok"})
                assert server.school("s", "GET", "/automations/a1/runs?limit=5")[0] == 200
                assert not rebuild.done(), "the rebuild answers once its rows are deleted"
            finally:
                lock.release()
            # and the rebuild ends
            status, answer = rebuild.result(timeout=120)
        assert status == 202 and answer["rebuilding"] == list(range(PARTITIONS)), answer
        until("/ready after the rebuild", lambda: server.call("GET", "/ready")[0] == 200, server, 600)
        store = ProjectionStore(store_url)
        try:
            with store.reading() as conn:
                assert sql_queries.snapshot(conn) == oracle(settings)
            assert sum(applied for applied, _ in store.counts(settings.topics.run_status).values()) == total
        finally:
            store.close()
    finally:
        server.stop()
        delete_topics(settings)
