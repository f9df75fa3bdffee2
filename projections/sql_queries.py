"""Reading the projections from the database: the answers the HTTP API and the CLI give.

Owns the same questions as the in-memory `projections.queries`, asked of the
tables `projections.sql_fold` writes, each always for one school (every
statement filters by it: `tests/unit/test_projection_store.py` holds them to
that). The rows become the fold's own values (`RunView`, `AutomationStats`,
`StepStats`, `NotStarted`) and render through their methods, so an answer
reads exactly as the in-memory one did; per-partition figures are added up
by the same `merge` functions.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select, union
from sqlalchemy.engine import Connection

from engine.definitions import Automation, is_wait, iter_steps
from projections import automation_stats, step_stats
from projections import schema as t
from projections.queries import page_automations, row_of
from projections.run_views import NotStarted, RunView, iso
from projections.sql_fold import from_us, run_of


def stats_of(conn: Connection, school: str, automation_id: str) -> automation_stats.AutomationStats:
    s, c = t.automation_stats.c, t.automation_status_counts.c
    parts = {}
    for row in conn.execute(select(t.automation_stats).where(s.school == school, s.automation_id == automation_id).order_by(s.part)):
        part = automation_stats.AutomationStats(school, automation_id, row.times_executed, row.skipped, row.declined)
        part.last_run_at = from_us(row.last_run_us)
        part.merged_learners_inside = row.learners_inside
        parts[row.part] = part
    for row in conn.execute(select(c.part, c.status, c.runs).where(c.school == school, c.automation_id == automation_id)):
        parts[row.part].by_status[row.status] = row.runs
    return automation_stats.merge(school, automation_id, parts.values())


def known_automation(conn: Connection, school: str, automation_id: str) -> bool:
    s = t.automation_stats.c
    return conn.execute(select(s.part).where(s.school == school, s.automation_id == automation_id).limit(1)).first() is not None


def automations_page(
    conn: Connection,
    automations: Iterable[Automation],
    school: str,
    search: str | None = None,
    status: str | None = None,
    group: str | None = None,
) -> list[dict]:
    """The school's automations with their figures; `search` matches name or id, any case."""
    return [automation_row(conn, automation) for automation in page_automations(automations, school, search, status, group)]


def automation_row(conn: Connection, automation: Automation) -> dict:
    return row_of(automation, stats_of(conn, automation.school, automation.id))


def runs_of_automation(
    conn: Connection, school: str, automation_id: str, status: str | None = None, limit: int | None = None
) -> list[dict]:
    """Newest first (start time, then run id: the in-memory views' order); `status` keeps
    the runs whose current status it is. An index serves each order and filter."""
    c = t.runs.c
    query = select(t.runs).where(c.school == school, c.automation_id == automation_id)
    if status is not None:
        query = query.where(c.status == status)
    query = query.order_by(c.started_us.desc(), c.run_id.desc())
    if limit is not None:
        query = query.limit(limit)
    runs = [run_of(row) for row in conn.execute(query)]
    _add_replays(conn, school, runs)
    return [run.summary() for run in runs]


def _add_replays(conn: Connection, school: str, runs: list[RunView]) -> None:
    if not runs:
        return
    by_id = {run.run_id: run for run in runs}
    c = t.runs.c
    # Through `runs_replays`, which holds only the runs that replay another: `IN` implies
    # `replay_of IS NOT NULL` to both planners. Said outright, it made SQLite read the
    # school's every replay (a range from NULL) instead of looking up each id.
    query = select(c.replay_of, c.run_id).where(c.school == school, c.replay_of.in_(list(by_id))).order_by(c.start_seq)
    for row in conn.execute(query):
        by_id[row.replay_of].replayed_by.append(row.run_id)


def find_run(conn: Connection, run_id: str, school: str) -> RunView | None:
    """The run with its steps, history and checks, or None (also a run of another school)."""
    c = t.runs.c
    row = conn.execute(select(t.runs).where(c.school == school, c.run_id == run_id)).first()
    if row is None:
        return None
    run = run_of(row)
    _add_replays(conn, school, [run])
    s = t.run_steps.c
    for step in conn.execute(select(t.run_steps).where(s.run_id == run_id).order_by(s.seq)):
        run.steps.append({"step_id": step.step_id, "step_type": step.step_type, "outcome": step.outcome,
                          "at": iso(from_us(step.at_us)), "detail_json": step.detail_json})
    h = t.run_history.c
    for change in conn.execute(select(t.run_history).where(h.run_id == run_id).order_by(h.seq)):
        entry = {"status": change.status, "at": iso(from_us(change.at_us))}
        for name in ("reason", "error", "exit_id"):
            if getattr(change, name):
                entry[name] = getattr(change, name)
        run.history.append(entry)
    e = t.exit_checks.c
    for check in conn.execute(select(t.exit_checks).where(e.run_id == run_id).order_by(e.seq)):
        run.exit_checks.append({"exit_id": check.exit_id, "event_id": check.event_id, "matched": check.matched,
                                "at": iso(from_us(check.at_us)), "trace_json": check.trace_json})
    return run


def learner_history(conn: Connection, school: str, user: str) -> dict:
    """Why did or didn't this learner get it: every run, and every entry that started none."""
    c, n = t.runs.c, t.not_started.c
    runs = [run_of(row) for row in conn.execute(
        select(t.runs).where(c.school == school, c.user_id == user).order_by(c.started_us, c.run_id)
    )]
    _add_replays(conn, school, runs)
    notes = conn.execute(
        select(t.not_started).where(n.school == school, n.user_id == user).order_by(n.at_us, n.automation_id, n.kind, n.part, n.id)
    )
    return {
        "school": school,
        "user": user,
        "runs": [run.summary() for run in runs],
        "not_started": [_note_of(row).as_dict() for row in notes],
    }


def _note_of(row) -> NotStarted:
    return NotStarted(kind=row.kind, school=row.school, user=row.user_id, automation_id=row.automation_id,
                      at=from_us(row.at_us), event_id=row.event_id, trigger_id=row.trigger_id, reason=row.reason,
                      trace_json=row.trace_json)


def _step_parts(conn: Connection, school: str, automation_id: str) -> dict[str, list[step_stats.StepStats]]:
    """Step id -> its figures in each partition, in partition order."""
    s, o, w = t.step_stats.c, t.step_outcomes.c, t.step_waiting.c
    parts: dict[tuple[str, int], step_stats.StepStats] = {}
    for row in conn.execute(select(t.step_stats).where(s.school == school, s.automation_id == automation_id).order_by(s.part)):
        figures = step_stats.StepStats(row.step_id, row.step_type, row.reached)
        figures.departures, figures.seconds_spent, figures.longest_seconds = row.departures, row.seconds_spent, row.longest_seconds
        figures.merged_learners_waiting = row.learners_waiting
        parts[(row.step_id, row.part)] = figures
    for row in conn.execute(select(o.step_id, o.part, o.outcome, o.records).where(o.school == school, o.automation_id == automation_id)):
        parts[(row.step_id, row.part)].outcomes[row.outcome] = row.records
    for (step_id, part), figures in parts.items():
        if figures.merged_learners_waiting:  # the oldest wait: the first entry of the index, not a scan
            oldest = select(w.since_us).where(w.school == school, w.automation_id == automation_id, w.step_id == step_id,
                                              w.part == part).order_by(w.since_us).limit(1)
            figures.merged_oldest = from_us(conn.execute(oldest).scalar_one_or_none())
    by_step: dict[str, list[step_stats.StepStats]] = {}
    for (step_id, _part), figures in parts.items():
        by_step.setdefault(step_id, []).append(figures)
    return by_step


def step_funnel(conn: Connection, school: str, automation_id: str, automation: Automation | None) -> list[dict]:
    """Every step in flow order (then steps an edit removed), with its figures."""
    seen = _step_parts(conn, school, automation_id)
    rows = []
    in_flow = [step for _, step in iter_steps(automation.flow)] if automation is not None else []
    for step in in_flow:
        figures = step_stats.merge(step.id, seen.pop(step.id, []))
        figures.step_type = step.type
        rows.append({**figures.as_dict(), "in_flow": True, "is_wait": is_wait(step)})
    for step_id in sorted(seen):
        rows.append({**step_stats.merge(step_id, seen[step_id]).as_dict(), "in_flow": False, "is_wait": None})
    return rows


def waiting_by_step(conn: Connection, school: str, automation_id: str) -> dict[str, int]:
    """Learners waiting in each wait step (each once; a learner's runs are all in one partition)."""
    s = t.step_stats.c
    query = (
        select(s.step_id, func.sum(s.learners_waiting).label("learners"))
        .where(s.school == school, s.automation_id == automation_id, s.learners_waiting > 0)
        .group_by(s.step_id)
        .order_by(s.step_id)
    )
    return {row.step_id: int(row.learners) for row in conn.execute(query)}


def schools(conn: Connection) -> list[str]:
    """Every school with a row: the operator's snapshot walks them one by one."""
    s, r, n = t.automation_stats.c, t.runs.c, t.not_started.c
    query = union(select(s.school), select(t.step_stats.c.school), select(r.school), select(n.school))
    return sorted(row[0] for row in conn.execute(query))


def snapshot(conn: Connection) -> dict:
    """Every view of every school in a stable order: equal folds give equal snapshots."""
    automations, learners, runs = {}, {}, {}
    for school in schools(conn):
        s, st, r, n = t.automation_stats.c, t.step_stats.c, t.runs.c, t.not_started.c
        automation_ids = conn.execute(union(
            select(s.automation_id).where(s.school == school), select(st.automation_id).where(st.school == school)
        )).scalars()
        for automation_id in sorted(automation_ids):
            automations[f"{school}/{automation_id}"] = {
                "stats": stats_of(conn, school, automation_id).as_dict(),
                "steps": step_funnel(conn, school, automation_id, None),
            }
        users = conn.execute(union(select(r.user_id).where(r.school == school), select(n.user_id).where(n.school == school))).scalars()
        for user in sorted(users):
            learners[f"{school}/{user}"] = learner_history(conn, school, user)
        for run_id in conn.execute(select(r.run_id).where(r.school == school)).scalars():
            runs[run_id] = find_run(conn, run_id, school).activity()
    return {
        "automations": automations,
        "learners": learners,
        "runs": dict(sorted(runs.items())),
    }
