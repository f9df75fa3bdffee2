"""The fold's lookups by key in SQLite read only the rows they ask for.

`projections.upsert.select_in` and `delete_keys` are how a batch fold reads and
removes the learners' rows (live runs, waits, finished runs) by composite keys.
SQLite (3.40) plans `(a, b) IN ((?, ?), ...)` as a read of the whole table,
which at 10M runs made each batch read gigabytes (bench/api_restart.py --tail);
each statement they send must be an index search of its table.
"""

from __future__ import annotations

from sqlalchemy import event

from projections import upsert
from projections import schema as t
from projections.store import ProjectionStore


def plans_of(store: ProjectionStore, act) -> list[tuple[str, list[str]]]:
    """(statement, its EXPLAIN QUERY PLAN lines) of each statement `act(conn)` sends."""
    sent = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    with store.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        act(conn)
        event.remove(conn, "before_cursor_execute", capture)
        plans = [(statement, [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)])
                 for statement, parameters in sent]
        conn.rollback()
    return plans


def test_composite_key_lookups_and_deletes_search_an_index_in_sqlite(tmp_path):
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite3'}")
    store.migrate()
    learners = [("s", f"learner-{n}") for n in range(600)]  # more than one chunk
    lives = [("s", "a1", f"learner-{n}") for n in range(3)]
    waits = [("s", "a1", "pause", f"run-{n}") for n in range(3)]

    def act(conn):
        for table in ("live_runs", "step_waiting", "learner_finished"):
            upsert.select_in(conn, f"SELECT * FROM {table} WHERE", ["school", "user_id"], learners)
        upsert.delete_keys(conn, t.live_runs, ("school", "automation_id", "user_id"), lives)
        upsert.delete_keys(conn, t.step_waiting, ("school", "automation_id", "step_id", "run_id"), waits)

    plans = plans_of(store, act)
    store.close()
    assert len(plans) == 3 * 2 + 2
    for statement, plan in plans:
        table = statement.split("FROM ", 1)[1].split()[0]
        assert any(line.startswith(f"SEARCH {table} USING") for line in plan), (statement[:80], plan)
        assert not any(line.startswith(f"SCAN {table}") for line in plan), (statement[:80], plan)
