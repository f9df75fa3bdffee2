"""A run's once-only decisions in its own row (`runs.decided`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

The decisions a run records once (a step's outcome, a step reached, an exit
checked against an event, a status at a wait) were 16-byte hashes in
`fold_keys`, two to three rows a record. They now live in the run's row, which
the fold reads and writes anyway. Runs folded before this revision keep NULL
here and their keys in `fold_keys` (the fold looks there for them): an upgrade
keeps the data and its meaning.
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('decided')
