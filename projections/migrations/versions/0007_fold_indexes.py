"""No `*_by_part` index on the tables the fold writes a row a record or a run into.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

`runs`, `run_steps`, `run_history`, `exit_checks`, `not_started`,
`learner_finished`, `live_runs` and `step_waiting` each had an index on
`part` that no answer reads (EXPLAIN of the runs list, the funnel, a
learner's view and a run's activity: bench/BENCHMARKS.md): only a rebuild's
`DELETE ... WHERE part IN (...)` did, once per rebuild, where the fold wrote
an entry into them for every row, a third of the index entries it wrote.
A rebuild now scans those tables instead (it deletes a partition's share of
them anyway). The small per-automation and per-step tables keep theirs.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

DROPPED = {
    "runs_by_part": "runs",
    "run_steps_by_part": "run_steps",
    "run_history_by_part": "run_history",
    "exit_checks_by_part": "exit_checks",
    "not_started_by_part": "not_started",
    "learner_finished_by_part": "learner_finished",
    "live_runs_by_part": "live_runs",
    "step_waiting_by_part": "step_waiting",
}


def upgrade() -> None:
    for index, table in DROPPED.items():
        op.drop_index(index, table_name=table)


def downgrade() -> None:
    for index, table in DROPPED.items():
        op.create_index(index, table, ["part"], unique=False)
