"""What keeps the projections' reads fast as the store grows.

On PostgreSQL, a fold into empty tables leaves the planner statistics of the
tables the API reads (`ProjectionStore.analyze`), without waiting for
autovacuum. PostgreSQL is a real throwaway cluster (tests/postgres.py).
"""

from __future__ import annotations

from sqlalchemy import text

from projections import store as store_module
from projections.store import ProjectionStore
from tests.unit.test_projection_store import fold_into, mixed


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
    estimated, counted = estimated_and_counted()
    assert 0 < counted < 50
    assert estimated > 0  # analyzed on the way (at 10 records folded, then at each doubling)
    store.close()
