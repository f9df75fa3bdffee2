"""`bench/api_views_multiply.py`'s bulk load: what makes 10M copied runs an hour's build, not a day's.

Owns the build's session and the store's secondary structures around the copies:
- `bulk_session`: SQLite without a journal on disk (journal_mode MEMORY,
  synchronous OFF, a 1 GB page cache, two sorter threads for CREATE INDEX);
  PostgreSQL with synchronous_commit off and 1 GB of maintenance_work_mem.
  Both are a bench's build: a crash loses only it.
- `drop_indexes` / `create_indexes`: the copied tables' secondary indexes (and
  on PostgreSQL their primary keys) dropped before the copies and created once
  after them, from the definitions the database itself printed (`sqlite_master`,
  `pg_indexes`, `pg_get_constraintdef`): one sort an index instead of a B-tree
  insert per row, and the very indexes the migrations made. The definitions
  wait in `tpl.dropped_indexes` meanwhile, so a build stopped between its
  copies (SIGTERM, a full disk) still ends with every index, and a later build
  finds them.
- `as_served`: what a store in service would have: SQLite back in WAL with
  ANALYZE and `PRAGMA optimize`; PostgreSQL's `VACUUM (ANALYZE)` (autovacuum's
  work on a table that grew by inserts: statistics, the visibility map that
  index-only scans read, hint bits set).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sys
import time
from pathlib import Path

from sqlalchemy.engine import Connection

GB = 2**30  # as `df -h` counts them


def bulk_session(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for pragma in ("journal_mode=MEMORY", "synchronous=OFF", "cache_size=-1048576", "threads=2", "temp_store=FILE"):
            conn.exec_driver_sql(f"PRAGMA {pragma}")
        return
    conn.exec_driver_sql("SET synchronous_commit = off")
    conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
    # One process builds each index: its CPU is the backend's, which `CpuClock` reads.
    conn.exec_driver_sql("SET max_parallel_maintenance_workers = 0")


def _definitions(conn: Connection, tables: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(name, drop statement, create statement) of each secondary structure of `tables`, in create order."""
    listed = ", ".join(f"'{table}'" for table in tables)
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"""SELECT name, sql FROM main.sqlite_master WHERE type = 'index'
            AND tbl_name IN ({listed}) AND sql IS NOT NULL ORDER BY tbl_name, name""").all()  # autoindexes: sql NULL
        return [(name, f'DROP INDEX main."{name}"', sql) for name, sql in rows]
    keys = conn.exec_driver_sql(f"""SELECT c.conname, t.relname, pg_get_constraintdef(c.oid) FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'p' AND t.relnamespace = 'public'::regnamespace
        AND t.relname IN ({listed}) ORDER BY t.relname""").all()
    indexes = conn.exec_driver_sql(f"""SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        AND tablename IN ({listed}) AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')
        ORDER BY tablename, indexname""").all()
    return ([(name, f'ALTER TABLE {table} DROP CONSTRAINT "{name}"', f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {key}')
             for name, table, key in keys]
            + [(name, f'DROP INDEX public."{name}"', definition) for name, definition in indexes])


def drop_indexes(conn: Connection, tables: tuple[str, ...]) -> int:
    """Drops the secondary structures of `tables`, keeping their definitions in tpl; how many are waiting."""
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS tpl.dropped_indexes (position INTEGER, name TEXT, create_sql TEXT)")
    waiting = conn.exec_driver_sql("SELECT COUNT(*) FROM tpl.dropped_indexes").scalar_one()
    for position, (name, drop, create) in enumerate(_definitions(conn, tables), start=waiting):
        conn.exec_driver_sql("INSERT INTO tpl.dropped_indexes VALUES (?, ?, ?)" if conn.dialect.name == "sqlite" else
                             "INSERT INTO tpl.dropped_indexes VALUES (%s, %s, %s)", (position, name, create))
        conn.exec_driver_sql(drop)
        waiting += 1
    return waiting


def create_indexes(conn: Connection, began: float) -> None:
    """Creates what `drop_indexes` dropped, each in its own transaction, with progress on stderr."""
    conn.commit()
    rows = conn.exec_driver_sql("SELECT position, name, create_sql FROM tpl.dropped_indexes ORDER BY position").all()
    conn.commit()
    for position, name, create in rows:
        started = time.perf_counter()
        with conn.begin():
            conn.exec_driver_sql(create)
            conn.exec_driver_sql(f"DELETE FROM tpl.dropped_indexes WHERE position = {position}")
        print(f"  index {name} created in {time.perf_counter() - started:.0f} s ({time.perf_counter() - began:.0f} s; "
              f"{free_gb():.1f} GB free)", file=sys.stderr, flush=True)


def as_served(conn: Connection, began: float) -> None:
    """The statistics and on-disk state a store in service has (see the module's opening)."""
    conn.commit()
    started = time.perf_counter()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA main.analysis_limit=1000")  # as `PRAGMA optimize` samples
        conn.exec_driver_sql("ANALYZE main")
        conn.exec_driver_sql("PRAGMA main.optimize")
        conn.commit()
        conn.exec_driver_sql("PRAGMA main.journal_mode=WAL")
        done = "ANALYZE + PRAGMA optimize, back in WAL"
    else:
        raw = conn.connection.dbapi_connection
        raw.autocommit = True  # VACUUM runs outside a transaction
        tables = [row[0] for row in raw.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            raw.execute(f"VACUUM (ANALYZE) {table}")
        raw.autocommit = False
        done = f"VACUUM (ANALYZE) of {len(tables)} tables"
    print(f"  {done} in {time.perf_counter() - started:.0f} s ({time.perf_counter() - began:.0f} s)", file=sys.stderr, flush=True)


def free_gb(path: str = "/work") -> float:
    return shutil.disk_usage(path).free / GB


class StopSignal:
    """SIGTERM or SIGINT between two batches of copies: the build stops there and still ends
    with its indexes and statistics (a kill in the middle of a statement would leave neither)."""

    def __init__(self) -> None:
        self.asked = False
        self._before = {sig: signal.signal(sig, self._ask) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _ask(self, signum, _frame) -> None:
        self.asked = True
        print(f"  signal {signum}: stopping after this batch of copies", file=sys.stderr, flush=True)

    def restore(self) -> None:
        for sig, handler in self._before.items():
            signal.signal(sig, handler)


class CpuClock:
    """CPU seconds (user + system) this process and, on PostgreSQL, its connection's server
    process (read from /proc: the server runs on this box) spent since the clock started."""

    def __init__(self, conn: Connection) -> None:
        self.backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() if conn.dialect.name == "postgresql" else None
        self.started = self._now()

    def _now(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        spent = usage.ru_utime + usage.ru_stime
        if self.backend is not None:
            fields = Path(f"/proc/{self.backend}/stat").read_text().rsplit(")", 1)[1].split()
            spent += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        return spent

    def seconds(self) -> float:
        return self._now() - self.started
