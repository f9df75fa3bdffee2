"""What keeps the projections' reads fast as the store grows, and keeps the rows.

A database at revision 0004, holding folded runs, is upgraded to the head (0005: the
replays' partial index; 0006 and 0007: the fold's digests and indexes): every answer stays what the in-memory fold answers
and the fold goes on from the stored offsets. On PostgreSQL, a fold into
empty tables leaves the planner statistics of the tables the API reads
(`ProjectionStore.analyze`), without waiting for autovacuum. PostgreSQL is a
real throwaway cluster (tests/postgres.py).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from projections import queries, sql_queries
from projections import store as store_module
from projections.store import ProjectionStore
from tests.unit.test_projection_store import fold_into, in_memory, mixed, replayed


def downgraded_to(store: ProjectionStore, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(sql_queries.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_the_replays_index_revision_keeps_the_rows_and_their_answers(store_url):
    world = replayed()
    store = ProjectionStore(store_url)
    store.migrate()
    halves = [records[: len(records) // 2] for records in world.partitions]
    fold_into(store, halves, 5)  # the fold writes what the head's tables hold, so it folds there
    downgraded_to(store, "0004")  # and the rows are taken down to what revision 0004 kept
    assert "runs_by_replay_of" in {index["name"] for index in inspect(store.engine).get_indexes("runs")}

    store.migrate()  # to the head, as a server starting on it does
    indexes = {index["name"] for index in inspect(store.engine).get_indexes("runs")}
    assert "runs_replays" in indexes and "runs_by_replay_of" not in indexes
    fold_into(store, world.partitions, 5)  # on from the stored offsets
    with store.connect() as conn:
        assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))
        replays = conn.execute(text("SELECT COUNT(*) FROM runs WHERE replay_of IS NOT NULL")).scalar_one()
    assert replays > 0  # the world replays a run: the lookup through the new index had one to find
    store.close()


def test_a_fold_into_empty_postgresql_tables_leaves_their_statistics(postgres, monkeypatch):
    # A few dozen runs: under autovacuum's threshold of 50 rows changed, so only the store's
    # own ANALYZE can give them statistics here.
    monkeypatch.setattr(store_module, "ANALYZE_FIRST", 10)
    store = ProjectionStore(postgres.create_database("upkeep_statistics"))
    store.migrate()
    world = mixed()

    def estimated_and_counted() -> tuple[float, int]:
        with store.connect() as conn:
            estimated = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'runs'")).scalar_one()
            return estimated, conn.execute(text("SELECT COUNT(*) FROM runs")).scalar_one()

    assert estimated_and_counted()[0] <= 0  # never analyzed (-1 since PostgreSQL 14)
    fold_into(store, world.partitions, 50)
    store.analyzed()  # it runs beside the fold
    estimated, counted = estimated_and_counted()
    assert 0 < counted < 50
    assert estimated > 0  # analyzed on the way (at 10 records folded, then at each doubling)
    store.close()
