"""Where the projections live: a SQLite file by default, PostgreSQL by URL.

Owns `ProjectionStore`: the engine for `AUTOMATIONS_PROJECTIONS_URL` (default: a
SQLite file under var/projections/ named after the topic prefix), the schema brought up to date by Alembic
at open (`migrate`, one process at a time on PostgreSQL: an advisory lock),
and `fold`: one batch of a partition's run-status records folded in one
transaction together with the partition's next offset. A restart resumes at
the stored offset, and a crash leaves either the whole batch with its offset
or neither, so no record is counted twice or lost. The offset moves only
from where the folder read it: a second projector of the same partition (a
zombie after a rebalance, or a rebuild that cleared it) fails its
transaction instead of counting twice (`OffsetMoved`). On PostgreSQL, a
store that has folded many records since it opened (or since a rebuild)
brings the planner's statistics up to date itself (`analyze`), beside the
fold, not in its way.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, delete, event, select, text
from sqlalchemy.engine import Connection, Engine

from projections import schema as t
from projections.record_digests import RecordDigests
from projections.sql_fold import BatchFold
from projections.upsert import forget_incoming, insert_new

RUN_STATUS = "run-status"
# The tables the API reads through secondary indexes, whose plans follow their statistics.
ANALYZED = ("runs", "not_started", "step_waiting")
ANALYZE_FIRST = 20_000  # records folded before the first ANALYZE; then at each doubling
log = logging.getLogger(__name__)


class OffsetMoved(Exception):
    """Another projector (or a rebuild) moved this partition's offset since it was read."""


def projections_url(prefix: str = "automations") -> str:
    """AUTOMATIONS_PROJECTIONS_URL, or the SQLite file of this topic prefix: one database
    never mixes the folds of two topic sets."""
    return os.environ.get("AUTOMATIONS_PROJECTIONS_URL") or f"sqlite:///var/projections/{prefix}.sqlite3"


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            # WAL: readers (the API) never wait for the projector's write, nor it for them.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # The fold reads its keys and runs all over the file: 16 MB of pages a connection
            # instead of 2 (a server's pool holds up to 10 connections).
            cursor.execute("PRAGMA cache_size=-16384")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)

    @event.listens_for(engine, "rollback")
    def _forget_incoming(conn):
        # A rolled-back transaction takes the temporary tables it made with it (`upsert`).
        forget_incoming(conn)

    return engine


def fold_seen_kept() -> int:
    """AUTOMATIONS_FOLD_SEEN_KEPT: records a partition folds before a record's digest is
    dropped. A byte-identical re-send (a worker's outputs sent again after a crash) comes
    soon after the original; a later one repeats decisions the fold refuses anyway (a run
    started, a step's outcome, a status at a wait...), and only the `applied` count sees it."""
    return int(os.environ.get("AUTOMATIONS_FOLD_SEEN_KEPT", "1000000"))


class ProjectionStore:
    def __init__(self, url: str | None = None, seen_kept: int | None = None) -> None:
        self.url = url or projections_url()
        self.engine = _engine(self.url)
        self.seen_kept = seen_kept if seen_kept is not None else fold_seen_kept()
        self._folded = 0  # records folded since the store opened or a partition was rebuilt
        self._analyze_at = ANALYZE_FIRST
        self._analyzing: threading.Thread | None = None

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several API servers starting at once: one migrates, the others wait and find it done.
                conn.execute(text("SELECT pg_advisory_xact_lock(4215001)"))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.analyzed()
        self.engine.dispose()

    # ------------------------------------------------------------ offsets

    def offsets(self, topic: str = RUN_STATUS) -> dict[int, int]:
        c = t.offsets.c
        with self.engine.connect() as conn:
            return {row.part: row.next_offset for row in conn.execute(select(c.part, c.next_offset).where(c.topic == topic))}

    def counts(self, topic: str = RUN_STATUS) -> dict[int, tuple[int, int]]:
        """partition -> (records applied, records undecodable)."""
        c = t.offsets.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.part, c.applied, c.undecodable).where(c.topic == topic))
            return {row.part: (row.applied, row.undecodable) for row in rows}

    # ------------------------------------------------------------ folding

    def fold(
        self,
        part: int,
        records: list[tuple[dict, bytes | None]],
        read_from: int,
        next_offset: int,
        undecodable: int = 0,
        topic: str = RUN_STATUS,
    ) -> int:
        """Folds decoded `records` (each with its bytes on the topic, or None) read from
        offset `read_from` up to `next_offset`, in one transaction; the records applied."""
        with self.engine.begin() as conn:
            # The offset first: a second projector of the partition waits on its row here and
            # then fails, before it reads or writes anything.
            _move_offset(conn, topic, part, read_from, next_offset, undecodable)
            batch = BatchFold(conn, part)
            batch.fold(records)
            batch.write(first_seq=read_from, digests_until=next_offset + self.seen_kept)
            RecordDigests.expire(conn, part, next_offset)
            mark = _mark(conn)
            conn.exec_driver_sql(f"UPDATE {t.offsets.name} SET applied = applied + {mark} WHERE topic = {mark} AND part = {mark}",
                                 (batch.applied, topic, part))
        self._folded += len(records)
        if self._folded >= self._analyze_at:
            self._analyze_at = 2 * self._folded
            self._analyze_beside()
        return batch.applied

    def _analyze_beside(self) -> None:
        """`analyze` on its own connection in a thread: the fold goes on meanwhile (ANALYZE
        takes no lock a write waits for). On the fold's path each took about 100 ms
        (`pg_stat_statements`), five of them in a fold of 560,000 records from zero
        (bench/BENCHMARKS.md). One at a time: one still running when the next is due
        serves for both."""
        if self.engine.dialect.name != "postgresql" or (self._analyzing is not None and self._analyzing.is_alive()):
            return

        def run() -> None:
            try:
                self.analyze()
            except Exception:  # noqa: BLE001 - statistics come again at the next doubling, and from autovacuum
                log.exception("ANALYZE of %s failed", ", ".join(ANALYZED))

        self._analyzing = threading.Thread(target=run, name="projections-analyze", daemon=True)
        self._analyzing.start()

    def analyzed(self, timeout: float | None = None) -> None:
        """Waits for an `analyze` begun beside the fold (a store closing lets it finish)."""
        if self._analyzing is not None:
            self._analyzing.join(timeout)

    def analyze(self) -> None:
        """PostgreSQL: fresh planner statistics for the tables the API reads.

        A fold from offset 0 (a first start, a rebuild, `automations projector run` on a new
        database) fills the tables faster than autovacuum looks at them (once a minute, then
        only past 10% of rows changed): a reader starting meanwhile plans on no statistics,
        or on those of a table a fraction of its size, and picked a scan of the school's
        every run for a run's replays (bench/BENCHMARKS.md). The fold calls this at
        ANALYZE_FIRST records and at each doubling after: a few times over any fold from zero
        (ANALYZE samples 30,000 rows a table: 6.1 s for the three at 1M runs on a 2-core box at
        load 20), then autovacuum keeps up with the steady trickle. SQLite plans these reads by their
        indexes without statistics (EXPLAIN QUERY PLAN: the same plans), so it is left as is.
        """
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # SKIP_LOCKED: another projector analyzing the same table already does it.
            conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {', '.join(ANALYZED)}")

    def reset(self, parts: list[int], topic: str = RUN_STATUS) -> None:
        """Clears `parts`' rows and offsets: they fold again from offset 0."""
        with self.engine.begin() as conn:
            for table in t.PARTITIONED:
                conn.execute(delete(table).where(table.c.part.in_(parts)))
            c = t.offsets.c
            conn.execute(delete(t.offsets).where(c.topic == topic, c.part.in_(parts)))
        self._folded, self._analyze_at = 0, ANALYZE_FIRST  # the rebuilt partitions fill again from zero

    def connect(self) -> Connection:
        return self.engine.connect()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection whose statements all see one snapshot: an answer reads several
        tables (an automation's figures and their counts by status), and a batch folded
        between two of its statements must not show in one and not the other."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN")  # WAL: the snapshot of the first read, until the end
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _move_offset(conn: Connection, topic: str, part: int, read_from: int, next_offset: int, undecodable: int) -> None:
    # Plain SQL, as every statement a batch sends: building the expression each batch cost
    # more than the update itself.
    mark = _mark(conn)
    moved = conn.exec_driver_sql(
        f"UPDATE {t.offsets.name} SET next_offset = {mark}, undecodable = undecodable + {mark}"
        f" WHERE topic = {mark} AND part = {mark} AND next_offset = {mark}",
        (next_offset, undecodable, topic, part, read_from),
    )
    if moved.rowcount == 1:
        return
    moved_by_another = OffsetMoved(f"{topic}/{part}: the stored offset is no longer {read_from}; another projector or a rebuild moved it")
    if read_from != 0:
        raise moved_by_another
    # The partition's first batch: of two projectors inserting it at once, the second finds the row.
    inserted = insert_new(conn, t.offsets, {"topic": topic, "part": part, "next_offset": next_offset, "applied": 0, "undecodable": undecodable})
    if not inserted:
        raise moved_by_another
