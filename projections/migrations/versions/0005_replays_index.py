"""A run's replays are found through an index of the replays alone (`runs_replays`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

`runs_by_replay_of` (school, replay_of) held an entry for every run, almost
all of them (school, NULL): at 10M runs an index the size of the runs list's
own, written at every run the fold inserts, read only for the replays of the
runs an answer shows. `runs_replays` is the same index over the runs that
replay another (`WHERE replay_of IS NOT NULL`, partial on both databases),
and the lookup says so (projections.sql_queries). The rows are untouched; the
new index is built from them at the upgrade (one pass over `runs`).
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

REPLAYS = sa.text("replay_of IS NOT NULL")


def upgrade() -> None:
    op.create_index('runs_replays', 'runs', ['school', 'replay_of'], unique=False, postgresql_where=REPLAYS, sqlite_where=REPLAYS)
    op.drop_index('runs_by_replay_of', table_name='runs')


def downgrade() -> None:
    op.create_index('runs_by_replay_of', 'runs', ['school', 'replay_of'], unique=False)
    op.drop_index('runs_replays', table_name='runs')
