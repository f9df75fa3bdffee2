"""`bench/api_views.py --store`'s reader: what a restarted API server does with the store, timed.

Run as its own process (`python -m bench.api_views_reader URL RUNS COPIES SCHOOLS [--asked N] [--explain]`) so its
resident set is its own: it opens the store as the API server does at start
(migrate, read the offsets, answer once: the time to ready), then asks every
question the API answers of the runs, each `asked` times round robin, through
`ProjectionStore.reading()` as the server's handlers do, and prints one JSON
line: p50/p99 in ms of each, the peak resident set, and on PostgreSQL whether
the tables read had statistics. With `--explain` it prints each question's
statements' plans (EXPLAIN ANALYZE; SQLite: EXPLAIN QUERY PLAN) to stderr.

The runs are the bench's: template run `run-<n>` of learner `learner-<n>`,
copy k (`bench/api_views_multiply.py`) `c<k>-run-<n>` of `c<k>-learner-<n>`;
`learner` and `activity` ask of anyone, `learner_not_started` of learners with
a declined or skipped entry, `activity_exit_checks` of runs with exit checks
(`bench/api_views.py`'s shares say which). The automation's skipped and declined
counts are in its row (`funnel`).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

ASKED = 300


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _school(copy: int, schools: int) -> str:
    return "s" if copy % schools == 0 else f"s{copy % schools}"


def questions(total: int, copies: int, schools: int, seed: int = 7) -> dict:
    """name -> ask(conn): the API's reads of the runs (api/app.py's handlers)."""
    from bench.api_views import WELCOME, declines, exit_checked, skips
    from projections import sql_queries as q

    chosen = random.Random(seed)

    def someone(having=None) -> tuple[str, str]:
        """A learner's (or run's) school and name pattern; `having(n)`: one of the template's runs it holds."""
        k, n = chosen.randrange(copies), chosen.randrange(total)
        while having is not None and not having(n):
            n = chosen.randrange(total)
        return _school(k, schools), (f"c{k}-" if k else "") + f"{{}}-{n}"

    def learner(conn, having=None):
        school, name = someone(having)
        return q.learner_history(conn, school, name.format("learner"))

    def activity(conn, having=None):
        school, name = someone(having)
        return q.find_run(conn, name.format("run"), school).activity()

    def missed_entries(n: int) -> bool:
        return declines(n) or skips(n)

    return {
        "list": lambda conn: q.runs_of_automation(conn, "s", "welcome", limit=50),
        "list_1000": lambda conn: q.runs_of_automation(conn, "s", "welcome", limit=1000),
        "list_pending": lambda conn: q.runs_of_automation(conn, "s", "welcome", status="pending", limit=50),
        "list_fulfilled": lambda conn: q.runs_of_automation(conn, "s", "welcome", status="fulfilled", limit=50),
        "list_failed": lambda conn: q.runs_of_automation(conn, "s", "welcome", status="failed", limit=50),
        "funnel": lambda conn: (q.automation_row(conn, WELCOME), q.step_funnel(conn, "s", "welcome", WELCOME)),
        "steps": lambda conn: (q.waiting_by_step(conn, "s", "welcome"), q.step_funnel(conn, "s", "welcome", WELCOME)),
        "learner": learner,
        "activity": activity,
        # The views' rows of entries that started no run and of exit checks (`not_started`,
        # `exit_checks`): a learner with a declined or skipped entry, a run checked for its exit.
        "learner_not_started": lambda conn: learner(conn, missed_entries),
        "activity_exit_checks": lambda conn: activity(conn, exit_checked),
    }


def statistics(conn) -> dict:
    """PostgreSQL: the rows each table read had when last analyzed, and rows changed since."""
    if conn.dialect.name != "postgresql":
        return {}
    rows = conn.exec_driver_sql("""
        SELECT s.relname, c.reltuples, s.n_live_tup, s.n_mod_since_analyze,
               GREATEST(s.last_analyze, s.last_autoanalyze) IS NOT NULL AS analyzed
        FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE s.schemaname = current_schema() AND s.relname IN ('runs', 'not_started', 'step_waiting')""")
    return {row.relname: {"analyzed": row.analyzed, "estimated_rows": int(row.reltuples), "live_rows": row.n_live_tup,
                          "changed_since_analyze": row.n_mod_since_analyze} for row in rows}


def explain(store, ask) -> None:
    """Each statement `ask` sends, with its plan, to stderr."""
    from sqlalchemy import event

    sent: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    with store.reading() as conn:
        ask(conn)
    event.remove(store.engine, "before_cursor_execute", capture)
    with store.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        for statement, parameters in sent:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
            plan = conn.exec_driver_sql(prefix + statement, parameters).all()
            lines = [" ".join(str(v) for v in row[-1:]) for row in plan]
            print("    " + " ".join(statement.split())[:200], file=sys.stderr)
            print("\n".join("      " + line for line in lines), file=sys.stderr, flush=True)


def read(url: str, total: int, copies: int, schools: int, asked: int = ASKED, show_plans: bool = False) -> dict:
    began = time.perf_counter()
    from projections import sql_queries
    from projections.store import ProjectionStore

    store = ProjectionStore(url)
    store.migrate()
    store.offsets()
    with store.reading() as conn:
        sql_queries.runs_of_automation(conn, "s", "welcome", limit=50)
    ready = time.perf_counter() - began
    with store.connect() as conn:
        stats = statistics(conn)
    asks = questions(total, copies, schools)
    if show_plans:
        for name, ask in asks.items():
            print(f"  {name}:", file=sys.stderr)
            explain(store, ask)
    timings: dict[str, list[float]] = {name: [] for name in asks}
    for _ in range(asked):
        for name, ask in asks.items():
            with store.reading() as conn:  # as the API server's handlers: a pooled connection, one snapshot
                began = time.perf_counter()
                ask(conn)
                timings[name].append(time.perf_counter() - began)
    store.close()
    # The peak of this process's own memory (VmHWM): ru_maxrss would carry the bench's
    # peak over the fork and exec that started this reader.
    status = Path("/proc/self/status").read_text()
    rss_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
    return {"ready_s": ready, "rss_mb": rss_mb, "asked": asked, "statistics": stats,
            "p50_p99_ms": {name: _percentiles(t) for name, t in timings.items()}}


if __name__ == "__main__":
    url, total, copies, schools = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    asked = int(sys.argv[sys.argv.index("--asked") + 1]) if "--asked" in sys.argv else ASKED
    print(json.dumps(read(url, total, copies, schools, asked, show_plans="--explain" in sys.argv)))
