"""`bench/api_views.py --copies`: a folded store multiplied in the database, for 1M-10M runs.

Folding 10M runs (60M records) through the projector takes hours on this box.
The rows the fold wrote for a template set of runs are copied instead, each
copy with fresh run ids, learners, event ids, times (shifted past the copy
before) and, with `schools` > 1, schools: `INSERT ... SELECT` over
`generate_series` in PostgreSQL and over a recursive CTE in SQLite. So every
table holds exactly the shapes the fold writes; only the per-automation and
per-step figures are not copied but multiplied (the copies are the same runs
of fresh learners: the counts add up, the longest wait stays, the last run is
the newest copy's).

Copy 0 is the template itself (ids as folded); copy k names its run `c<k>-<run id>`
and its learner `c<k>-<learner>`, in school `s` when k % schools == 0, else
`s<k % schools>`. `fold_keys` gets the learners' entry keys of every copy
(fresh 16-byte keys: they are hashes) and keeps the template's record digests
only (they expire after a partition's last 1,000,000 records, so a fold of
many more runs holds about as many).

The copies are written with the tables' secondary indexes and PostgreSQL's
keys dropped, created once after them, in a bulk session, then analyzed as a
store in service is (`bench/api_views_bulk.py`); `tpl.build` says how many
copies a store holds, so a kept one (`--build-only`) grows on from there.
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bench.api_views_bulk import CpuClock, StopSignal, as_served, bulk_session, create_indexes, drop_indexes, free_gb

PER_STATEMENT = 5  # copies a transaction: progress between them, and a bounded journal
RUN_TABLES = ("runs", "run_steps", "run_history", "exit_checks", "not_started", "learner_finished", "live_runs", "step_waiting")
FIGURES = ("automation_stats", "automation_status_counts", "step_stats", "step_outcomes")
TEMPLATE = (*RUN_TABLES, "fold_keys", *FIGURES, "projector_offsets")
COPIED = (*RUN_TABLES, "fold_keys")


def _copies_sql(dialect: str, first: int, last: int) -> str:
    """Rows `k` of the copies first..last."""
    if dialect == "postgresql":
        return f"generate_series(CAST({first} AS BIGINT), {last}) AS copies(k)"  # k * span: past int4 at small spans
    return f"(WITH RECURSIVE series(k) AS (SELECT {first} UNION ALL SELECT k + 1 FROM series WHERE k < {last}) SELECT k FROM series) AS copies"




def _inserts(dialect: str, schools: int, span: int, seq_span: int) -> dict[str, str]:
    """table -> its `INSERT ... SELECT` from the template (tpl.<table>) for {copies}."""
    prefix = "'c' || CAST(k AS TEXT) || '-'"

    def mapped(column: str) -> str:
        return f"{prefix} || {column}"

    # `%` would be a placeholder to psycopg: PostgreSQL's mod() (SQLite has it only with its math functions).
    rest = f"mod(k, {schools})" if dialect == "postgresql" else f"(k % {schools})"
    school = f"CASE WHEN {rest} = 0 THEN school ELSE 's' || CAST({rest} AS TEXT) END"
    shift = f"k * {span}"
    random_key = "decode(md5(CAST(k AS TEXT) || encode(key, 'hex')), 'hex')" if dialect == "postgresql" else "randomblob(16)"
    finished = f"CASE WHEN run_ids = '' THEN '' ELSE {prefix} || replace(run_ids, ' ', ' ' || {prefix}) END"
    return {
        "runs": f"""INSERT INTO runs SELECT {mapped('run_id')}, part, {school}, {mapped('user_id')}, automation_id, automation_version,
            started_us + {shift}, start_seq + k * {seq_span}, trigger_id, {mapped('trigger_event_id')},
            CASE WHEN replay_of IS NULL THEN NULL ELSE {mapped('replay_of')} END, status,
            ended_us + {shift}, reason, error, exit_id, waiting_in, forgotten, trigger_trace_json, steps_count, history_count,
            exit_checks_count, decided FROM tpl.runs, {{copies}}""",
        "run_steps": f"""INSERT INTO run_steps SELECT {mapped('run_id')}, seq, part, step_id, step_type, outcome, at_us + {shift},
            detail_json FROM tpl.run_steps, {{copies}}""",
        "run_history": f"""INSERT INTO run_history SELECT {mapped('run_id')}, seq, part, status, at_us + {shift}, reason, error,
            exit_id FROM tpl.run_history, {{copies}}""",
        "exit_checks": f"""INSERT INTO exit_checks SELECT {mapped('run_id')}, seq, part, exit_id, {mapped('event_id')}, matched,
            at_us + {shift}, trace_json FROM tpl.exit_checks, {{copies}}""",
        "not_started": f"""INSERT INTO not_started (part, school, user_id, automation_id, kind, at_us, event_id, trigger_id, reason,
            trace_json) SELECT part, {school}, {mapped('user_id')}, automation_id, kind, at_us + {shift}, {mapped('event_id')},
            trigger_id, reason, trace_json FROM tpl.not_started, {{copies}}""",
        "learner_finished": f"""INSERT INTO learner_finished SELECT {school}, {mapped('user_id')}, part, {finished}
            FROM tpl.learner_finished, {{copies}}""",
        "live_runs": f"""INSERT INTO live_runs SELECT {school}, automation_id, {mapped('user_id')}, part, runs
            FROM tpl.live_runs, {{copies}}""",
        "step_waiting": f"""INSERT INTO step_waiting SELECT {school}, automation_id, step_id, {mapped('run_id')}, part,
            {mapped('user_id')}, since_us + {shift} FROM tpl.step_waiting, {{copies}}""",
        "fold_keys": f"""INSERT INTO fold_keys SELECT part, {random_key}, until_offset FROM tpl.fold_keys, {{copies}}
            WHERE until_offset IS NULL""",
    }


def _school_of(copy: int, schools: int) -> str:
    return "s" if copy % schools == 0 else f"s{copy % schools}"


def _figures(conn: Connection, copies: int, schools: int, span: int) -> None:
    """The per-automation and per-step figures of `copies` copies: the template's, added up
    over the copies in each school (every copy is the same runs of other learners)."""
    for table in FIGURES:
        conn.exec_driver_sql(f"DELETE FROM {table}")
    for school in sorted({_school_of(k, schools) for k in range(copies)}):
        in_school = [k for k in range(copies) if _school_of(k, schools) == school]
        m, newest = len(in_school), max(in_school) * span
        conn.execute(text(f"""INSERT INTO automation_stats SELECT :school, automation_id, part, times_executed * {m}, skipped * {m},
            declined * {m}, last_run_us + {newest}, learners_inside * {m} FROM tpl.automation_stats"""), {"school": school})
        conn.execute(text(f"""INSERT INTO automation_status_counts SELECT :school, automation_id, part, status, runs * {m}
            FROM tpl.automation_status_counts"""), {"school": school})
        conn.execute(text(f"""INSERT INTO step_stats SELECT :school, automation_id, step_id, part, step_type, reached * {m},
            departures * {m}, seconds_spent * {m}, longest_seconds, learners_waiting * {m} FROM tpl.step_stats"""),
            {"school": school})
        conn.execute(text(f"""INSERT INTO step_outcomes SELECT :school, automation_id, step_id, part, outcome, records * {m}
            FROM tpl.step_outcomes"""), {"school": school})


def _attach_template(conn: Connection) -> None:
    """The template's copy lives apart from the store's tables (not in its size on disk):
    SQLite, a file beside it attached as `tpl`; PostgreSQL, the schema `tpl`."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS tpl")
        return
    attached = {row[1]: row[2] for row in conn.exec_driver_sql("PRAGMA database_list")}
    if "tpl" not in attached:
        conn.exec_driver_sql(f"ATTACH DATABASE '{attached['main']}.template' AS tpl")


def _keep_template(conn: Connection) -> None:
    for table in TEMPLATE:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS tpl.{table} AS SELECT * FROM {table}")


def _spans(conn: Connection) -> tuple[int, int]:
    """How far each copy's instants and start numbers move past the one before."""
    low, high = conn.execute(text("""SELECT MIN(low), MAX(high) FROM (
        SELECT MIN(started_us) AS low, MAX(COALESCE(ended_us, started_us)) AS high FROM tpl.runs
        UNION ALL SELECT MIN(at_us), MAX(at_us) FROM tpl.run_steps
        UNION ALL SELECT MIN(at_us), MAX(at_us) FROM tpl.run_history) AS instants""")).one()
    seq_span = conn.execute(text("SELECT MAX(start_seq) + 1 FROM tpl.runs")).scalar_one()
    return high - low + 1_000_000, seq_span


def built_copies(conn: Connection) -> tuple[int, int, int] | None:
    """(runs a copy, copies written, schools) of a store this module multiplied, or None."""
    _attach_template(conn)
    try:
        row = conn.exec_driver_sql("SELECT runs, copies, schools FROM tpl.build").one_or_none()
    except Exception:  # noqa: BLE001 - no such table: never multiplied
        conn.rollback()
        return None
    return tuple(row) if row else None


def multiply(engine, have: int, want: int, schools: int = 1, keep_free_gb: float = 0.0, bulk: bool = True) -> tuple[float, int]:
    """Grows a store holding `have` copies of its template (1: just folded) to `want`, or fewer
    when the disk would keep less than `keep_free_gb` or a signal asks it to stop between two
    batches of copies; (seconds, the copies it holds). `bulk=False`: the build before
    `bench/api_views_bulk.py` (every index kept up row by row), the baseline of its figures."""
    began = time.perf_counter()
    engine.dispose()  # SQLite leaves WAL for the build only with no other connection open
    stop = StopSignal()
    try:
        with engine.connect() as conn:
            cpu = CpuClock(conn)
            if bulk:
                bulk_session(conn)
            else:
                conn.exec_driver_sql("PRAGMA synchronous=OFF" if conn.dialect.name == "sqlite" else "SET synchronous_commit = off")
            _attach_template(conn)
            conn.commit()
            with conn.begin():
                _keep_template(conn)
                runs = conn.exec_driver_sql("SELECT COUNT(*) FROM tpl.runs").scalar_one()
                conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS tpl.build (runs BIGINT, copies INTEGER, schools INTEGER)")
                if conn.exec_driver_sql("SELECT COUNT(*) FROM tpl.build").scalar_one() == 0:
                    conn.exec_driver_sql(f"INSERT INTO tpl.build VALUES ({runs}, {have}, {schools})")
                span, seq_span = _spans(conn)
            if bulk:
                with conn.begin():
                    waiting = drop_indexes(conn, COPIED)
                print(f"  {waiting} secondary indexes and keys of {', '.join(COPIED)} dropped until the copies are written "
                      f"({free_gb():.1f} GB free)", file=sys.stderr, flush=True)
            have = _copy(conn, runs, have, want, schools, span, seq_span, keep_free_gb, stop, began)
            if bulk:
                create_indexes(conn, began)
            with conn.begin():
                _figures(conn, have, schools, span)
                conn.exec_driver_sql(f"""UPDATE projector_offsets SET next_offset = (SELECT t.next_offset * {have} FROM
                    tpl.projector_offsets t WHERE t.topic = projector_offsets.topic AND t.part = projector_offsets.part),
                    applied = (SELECT t.applied * {have} FROM tpl.projector_offsets t
                    WHERE t.topic = projector_offsets.topic AND t.part = projector_offsets.part)""")
            if bulk:
                as_served(conn, began)
            print(f"  {'bulk' if bulk else 'indexes kept up row by row'}: {time.perf_counter() - began:.1f} s, CPU "
                  f"{cpu.seconds():.1f} s ({'this process and its server process' if cpu.backend else 'this process'})",
                  file=sys.stderr, flush=True)
    finally:
        stop.restore()
    engine.dispose()
    return time.perf_counter() - began, have


def _copy(conn: Connection, runs: int, have: int, want: int, schools: int, span: int, seq_span: int,
          keep_free_gb: float, stop: StopSignal, began: float) -> int:
    """Writes copies have..want-1, PER_STATEMENT a transaction; the copies the store then holds."""
    inserts = _inserts(conn.dialect.name, schools, span, seq_span)
    free_at_start, per_copy_gb, written_from = free_gb(), 0.0, have
    for first in range(have, want, PER_STATEMENT):
        last = min(want, first + PER_STATEMENT) - 1
        free = free_gb()
        # Room for this batch and for the indexes still to build: at 10M runs they took 0.15 (SQLite) to
        # ~0.35 (PostgreSQL, with the primary keys) of the rows' bytes, half of it again for the sort's files.
        needed = per_copy_gb * (last + 1 - first) + 0.5 * per_copy_gb * (last + 1)
        if stop.asked or (keep_free_gb and free - needed < keep_free_gb):
            why = "a signal" if stop.asked else f"{free:.1f} GB free, ~{needed:.1f} GB needed, {keep_free_gb:.0f} GB to keep"
            print(f"  STOPPED at {have} copies ({have * runs:,} runs) of {want}: {why}", file=sys.stderr, flush=True)
            break
        started = time.perf_counter()
        with conn.begin():
            for statement in inserts.values():
                conn.exec_driver_sql(statement.format(copies=_copies_sql(conn.dialect.name, first, last)))
            conn.exec_driver_sql(f"UPDATE tpl.build SET copies = {last + 1}")
        have = last + 1
        seconds = time.perf_counter() - started
        per_copy_gb = (free_at_start - free_gb()) / (have - written_from)  # PostgreSQL's WAL (bounded) included
        print(f"  copies {first}..{last} of {want - 1} written: {have * runs:,} runs, {(last + 1 - first) * runs / seconds:,.0f} "
              f"runs/s ({time.perf_counter() - began:.0f} s; {free_gb():.1f} GB free; load "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])})", file=sys.stderr, flush=True)
    return have


def template_bytes(conn: Connection) -> int:
    """PostgreSQL: the template's share of the database's size (SQLite keeps it in its own file)."""
    if conn.dialect.name != "postgresql":
        return 0
    return conn.exec_driver_sql("""SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
        WHERE c.relkind = 'r' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'tpl')""").scalar_one()
