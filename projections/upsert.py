"""Insert-or-update of many rows, the one statement SQLite and PostgreSQL spell alike.

Owns `upsert(conn, table, rows)`: `INSERT ... ON CONFLICT (primary key) DO
UPDATE` through each dialect's construct (SQLAlchemy Core has no portable
one), sent as one executemany.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert(conn: Connection, table: Table, rows: list[dict]) -> None:
    insert = _INSERTS[conn.dialect.name](table)
    keys = [column.name for column in table.primary_key.columns]
    updates = {name: insert.excluded[name] for name in rows[0] if name not in keys}
    statement = insert.on_conflict_do_update(index_elements=keys, set_=updates) if updates else insert.on_conflict_do_nothing()
    conn.execute(statement, rows)
