"""The operator's look-ups in the projections' store, for the CLI.

Owns the two statements that do not filter by one school, and why they may
not: the CLI is given a run id or an automation id alone (`runs show RUN`,
`runs list --automation A`) and, reading every school's topics, acts for all
of them. `school_of_run` and `schools_of_automation` only find the school;
what is then shown is asked of that school through `projections.sql_queries`,
whose every statement filters by it. `count_runs` (how many runs a list left
out) filters by school like those.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from projections import schema as t


def school_of_run(conn: Connection, run_id: str) -> str | None:
    """The school whose run this is (run ids are unique: the runs table's key), or None."""
    c = t.runs.c
    return conn.execute(select(c.school).where(c.run_id == run_id)).scalar_one_or_none()


def schools_of_automation(conn: Connection, automation_id: str) -> list[str]:
    """Every school with figures of an automation of this id (its runs, skips and declines), in order."""
    s = t.automation_stats.c
    return list(conn.execute(select(s.school).where(s.automation_id == automation_id).distinct().order_by(s.school)).scalars())


def count_runs(conn: Connection, school: str, automation_id: str, status: str | None = None) -> int:
    """The school's runs of the automation (in `status` now): the runs list's index answers it."""
    c = t.runs.c
    query = select(func.count()).select_from(t.runs).where(c.school == school, c.automation_id == automation_id)
    if status is not None:
        query = query.where(c.status == status)
    return conn.execute(query).scalar_one()
