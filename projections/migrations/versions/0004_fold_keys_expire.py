"""Record digests in `fold_keys` expire (`until_offset`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

A record's digest (a byte-identical re-send counts once) was kept forever:
16 bytes and an index entry for every record ever folded. It is now kept
until its partition has folded `AUTOMATIONS_FOLD_SEEN_KEPT` more records
(projections.store); a re-send later than that is still refused by the
decisions it repeats (projections.partition). The learners' entry keys keep
NULL: they never expire. Rows written before this revision keep NULL too.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fold_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('until_offset', sa.BigInteger(), nullable=True))
        batch_op.create_index('fold_keys_expiring', ['part', 'until_offset'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fold_keys', schema=None) as batch_op:
        batch_op.drop_index('fold_keys_expiring')
        batch_op.drop_column('until_offset')
