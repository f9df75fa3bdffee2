"""Many rows in and out in few statements, in the SQL that SQLite and PostgreSQL share.

Owns `insert_rows`, `upsert_rows` (`INSERT ... ON CONFLICT (primary key) DO
UPDATE`, the same text on both), their forms for rows as dicts (`insert`,
`upsert`), and `select_in` (rows whose key is in a list, `IN` with one
placeholder per value, row values for composite keys: in SQLite through a
subquery of VALUES, which its planner looks up by index), sent straight to the
driver in its placeholder style. The batch fold moves tens of thousands of
rows a second: SQLAlchemy's compilation and type processing of each row cost
more than the database's work (bench/api_views.py), and the statements here
need neither. The fold builds its rows as tuples in the columns' order: a
dict a row, then a tuple from it, was a third of its row building.
"""

from __future__ import annotations

import json
from operator import itemgetter
from typing import Iterable, Sequence

from psycopg.rows import namedtuple_row
from sqlalchemy import Table
from sqlalchemy.engine import Connection

CHUNK = 500  # values per IN (...): well under both databases' parameter limits
FEW_ROWS = 40  # PostgreSQL: rows written by one INSERT ... VALUES rather than COPY


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _statement(conn: Connection, table: Table, columns: Sequence[str], conflict: str) -> str:
    marks = ", ".join([_mark(conn)] * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks}){conflict}"


def _send(conn: Connection, table: Table, columns: Sequence[str], values: list[tuple], conflict: str) -> None:
    """SQLite (in process): one executemany. PostgreSQL: a binary COPY, into the table itself
    or, for an upsert, into the connection's temporary copy of it and from there in one
    INSERT ... SELECT: an executemany is a round trip a row there, and a statement of many
    rows' values costs more to build and parse than COPY's whole transfer (13x,
    bench/api_views.py). Binary: no text to escape and parse (a bytea key was a hex
    string both ways), the columns' types read once a connection (`_column_types`)."""
    if conn.dialect.paramstyle == "qmark":
        conn.exec_driver_sql(_statement(conn, table, columns, conflict), values)
        return
    names = ", ".join(columns)
    driver = conn.connection.driver_connection
    if len(values) <= FEW_ROWS:
        # A few rows (a batch's figures, its digests' row): one statement, one round trip,
        # where a COPY takes two and an upsert's COPY into its temporary table three.
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        driver.execute(f"INSERT INTO {table.name} ({names}) VALUES {', '.join([row] * len(values))}{conflict}",
                       [value for row_values in values for value in row_values])
        return
    target = table.name if not conflict else _incoming(conn, table)
    types = _column_types(conn, table, columns)
    cursor = driver.cursor()
    with cursor.copy(f"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        write_row = copy.write_row
        for row in values:
            write_row(row)
    if conflict:
        # No parameters: one round trip for both statements (the simple query protocol).
        cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {target}{conflict}; DELETE FROM {target}")


def _incoming(conn: Connection, table: Table) -> str:
    """The connection's temporary copy of `table` for upserts, made at its first use (its
    rows go at each statement's end and at commit)."""
    made = conn.connection.info.setdefault("incoming_tables", set())
    target = f"incoming_{table.name}"
    if target not in made:
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} (LIKE {table.name}) ON COMMIT DELETE ROWS")
        made.add(target)
    return target


def forget_incoming(conn: Connection) -> None:
    """After a rollback: the temporary tables made in that transaction are gone."""
    conn.connection.info.pop("incoming_tables", None)


def _column_types(conn: Connection, table: Table, columns: Sequence[str]) -> list[int]:
    """The type oids of `table`'s `columns` as the database has them (a binary COPY sends
    each value in its column's exact type), read once a connection."""
    known = conn.connection.info.setdefault("column_types", {})
    types = known.get(table.name)
    if types is None:
        rows = conn.exec_driver_sql(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table.name,))
        types = known[table.name] = dict(rows.all())
    return [types[column] for column in columns]


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], values: list[tuple]) -> None:
    """Rows (tuples in `columns`' order) that are new: no key of theirs is in the table."""
    if values:
        _send(conn, table, columns, values, "")


def upsert_rows(conn: Connection, table: Table, columns: Sequence[str], values: list[tuple]) -> None:
    """Rows (tuples in `columns`' order) inserted, or written over the row of their key."""
    if not values:
        return
    keys = [column.name for column in table.primary_key.columns]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    conflict = f" ON CONFLICT ({', '.join(keys)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
    _send(conn, table, columns, values, conflict)


def _tuples(columns: list[str], rows: list[dict]) -> list[tuple]:
    return list(map(itemgetter(*columns), rows)) if len(columns) > 1 else [(row[columns[0]],) for row in rows]


def insert(conn: Connection, table: Table, rows: list[dict]) -> None:
    if rows:
        columns = list(rows[0])
        insert_rows(conn, table, columns, _tuples(columns, rows))


def upsert(conn: Connection, table: Table, rows: list[dict]) -> None:
    if rows:
        columns = list(rows[0])
        upsert_rows(conn, table, columns, _tuples(columns, rows))


def insert_new(conn: Connection, table: Table, row: dict) -> bool:
    """Inserts the row unless its key is taken (also by a transaction that commits meanwhile)."""
    columns = list(row)
    keys = ", ".join(column.name for column in table.primary_key.columns)
    done = conn.exec_driver_sql(_statement(conn, table, columns, f" ON CONFLICT ({keys}) DO NOTHING"), tuple(row.values()))
    return done.rowcount == 1


def select_in(conn: Connection, query: str, key: Sequence[str], values: Iterable, *before) -> list:
    """Rows of `query` (ending in WHERE ... AND, or WHERE) whose `key` column(s) are in `values`;
    `before`: the values of the placeholders `query` itself holds (written as {mark}).
    PostgreSQL takes the values as one JSON array, SQLite as placeholders."""
    mark = _mark(conn)
    query = query.replace("{mark}", mark)
    values = list(values)
    if not values:
        return []
    if mark == "%s":
        # The keys as one JSON text, split by the server: psycopg builds an array parameter
        # element by element in Python, which was the prefetch's largest client cost.
        binary = isinstance(values[0][0] if len(key) > 1 else values[0], bytes)
        if binary:
            values = [tuple(v.hex() for v in value) for value in values] if len(key) > 1 else [value.hex() for value in values]
        if len(key) > 1:
            fields = ", ".join(f"decode(k->>{i}, 'hex')" if binary else f"k->>{i}" for i in range(len(key)))
            keys = f"SELECT {fields} FROM json_array_elements(%s::json) k"
        else:
            keys = "SELECT decode(k, 'hex') FROM json_array_elements_text(%s::json) k" if binary else "SELECT json_array_elements_text(%s::json)"
        # Straight to the driver: SQLAlchemy's result set-up (its column metadata a query)
        # cost more than the prefetch's smaller queries themselves; rows named as before.
        cursor = conn.connection.driver_connection.cursor(row_factory=namedtuple_row)
        cursor.execute(f"{query} ({', '.join(key)}) IN ({keys})", (*before, json.dumps(values)))
        return cursor.fetchall()
    found = []
    one = "(" + ", ".join([mark] * len(key)) + ")" if len(key) > 1 else mark
    column = "(" + ", ".join(key) + ")" if len(key) > 1 else key[0]
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        params = list(before)
        for value in chunk:
            params.extend(value if len(key) > 1 else (value,))
        found += conn.exec_driver_sql(f"{query} {column} IN {_listed(one, len(chunk), len(key))}", tuple(params)).all()
    return found


def _listed(one: str, count: int, columns: int) -> str:
    """SQLite's right side of `IN` for `count` values of `one`'s shape. Row values go through a
    subquery: SQLite (3.40) reads a whole table for `(a, b) IN ((?, ?), ...)`, whatever its
    indexes, but looks each key up for `(a, b) IN (SELECT * FROM (VALUES (?, ?), ...))`."""
    listed = ", ".join([one] * count)
    return f"(SELECT * FROM (VALUES {listed}))" if columns > 1 else f"({listed})"


def delete_keys(conn: Connection, table: Table, key: Sequence[str], values: list[tuple]) -> None:
    """Deletes the rows whose `key` columns hold each of `values` (one executemany)."""
    if values:
        mark = _mark(conn)
        one = "(" + ", ".join([mark] * len(key)) + ")"
        for start in range(0, len(values), CHUNK):
            chunk = values[start:start + CHUNK]
            params = tuple(value for row in chunk for value in row)
            listed = _listed(one, len(chunk), len(key)) if mark == "?" else f"({', '.join([one] * len(chunk))})"
            conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE ({', '.join(key)}) IN {listed}", params)
