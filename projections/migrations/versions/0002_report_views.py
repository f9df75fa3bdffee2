"""Views for analysts: runs, run steps, the step funnel, times executed by day.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Instants are stored as microseconds since the epoch (UTC); these views show
them as each database's timestamps (PostgreSQL: timestamptz; SQLite: ISO 8601
text, UTC), so analysts query with plain SQL in psql or sqlite3 (README:
"Querying the projections"). Every view has the school column: filter by it.
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

VIEWS = ("report_times_executed_by_day", "report_step_funnel", "report_run_steps", "report_runs")


def _instant(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"to_timestamp({column} / 1000000.0)"
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {column} / 1000000.0, 'unixepoch')"


def _day(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"(to_timestamp({column} / 1000000.0) AT TIME ZONE 'UTC')::date"
    return f"date({column} / 1000000, 'unixepoch')"


def upgrade() -> None:
    op.execute(f"""
        CREATE VIEW report_runs AS
        SELECT school, user_id AS learner, automation_id, automation_version, run_id, status,
               {_instant('started_us')} AS started_at, {_instant('ended_us')} AS ended_at,
               waiting_in, trigger_id, trigger_event_id, replay_of, exit_id, error, reason
        FROM runs
    """)
    op.execute(f"""
        CREATE VIEW report_run_steps AS
        SELECT r.school, r.user_id AS learner, r.automation_id, s.run_id, s.seq AS position,
               s.step_id, s.step_type, s.outcome, {_instant('s.at_us')} AS at
        FROM run_steps s JOIN runs r ON r.run_id = s.run_id
    """)
    op.execute("""
        CREATE VIEW report_step_funnel AS
        SELECT school, automation_id, step_id, MAX(step_type) AS step_type, SUM(reached) AS reached,
               SUM(learners_waiting) AS waiting_now, SUM(departures) AS left_after_waiting,
               CASE WHEN SUM(departures) > 0 THEN SUM(seconds_spent) / SUM(departures) END AS average_wait_seconds,
               CASE WHEN SUM(departures) > 0 THEN MAX(longest_seconds) END AS longest_wait_seconds
        FROM step_stats
        GROUP BY school, automation_id, step_id
    """)
    op.execute(f"""
        CREATE VIEW report_times_executed_by_day AS
        SELECT school, automation_id, {_day('started_us')} AS day, COUNT(*) AS times_executed
        FROM runs
        GROUP BY school, automation_id, {_day('started_us')}
    """)


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW {view}")
