"""Record digests in `fold_digests`: a batch's in a row or two, not a row each in `fold_keys`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

A record's digest key (its instant, then 10 bytes of its digest: a
byte-identical re-send counts once) was a row of `fold_keys`, indexed twice,
written and looked up for every record folded: two fifths of the fold's rows.
They now go a batch's at a time into `fold_digests`, sorted side by side in one
blob a cluster of close instants (projections.record_digests). The upgrade
moves the digests still kept (`until_offset` not NULL) into it, grouped as
their batches wrote them, so a re-send of a record folded before still counts
once; `fold_keys` keeps the learners' entry keys. The downgrade moves them back.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

KEY_BYTES = 16
GAP_MS = 60_000  # projections.record_digests.GAP_MS, as this revision shipped it


def _clusters(keys: list[bytes]) -> list[tuple[int, int, bytes]]:
    found: list[list] = []
    for key in sorted(keys):
        at = int.from_bytes(key[:6], "big")
        if found and at - found[-1][1] <= GAP_MS:
            found[-1][1] = at
            found[-1][2].append(key)
        else:
            found.append([at, at, [key]])
    return [(first, last, b"".join(members)) for first, last, members in found]


def upgrade() -> None:
    digests = op.create_table(
        'fold_digests',
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('until_offset', sa.BigInteger(), nullable=False),
        sa.Column('first_ms', sa.BigInteger(), nullable=False),
        sa.Column('last_ms', sa.BigInteger(), nullable=False),
        sa.Column('record_keys', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('part', 'until_offset', 'first_ms'),
    )
    op.create_index('fold_digests_by_instant', 'fold_digests', ['part', 'last_ms'], unique=False)
    conn = op.get_bind()
    keys = sa.table('fold_keys', sa.column('part'), sa.column('key'), sa.column('until_offset'))
    kept = keys.c.until_offset.is_not(None)
    for (part,) in conn.execute(sa.select(keys.c.part).where(kept).distinct()).all():
        by_batch: dict[int, list[bytes]] = {}
        for until, key in conn.execute(sa.select(keys.c.until_offset, keys.c.key).where(kept, keys.c.part == part)).all():
            by_batch.setdefault(until, []).append(bytes(key))
        for until, batch in by_batch.items():
            conn.execute(digests.insert(), [{"part": part, "until_offset": until, "first_ms": first, "last_ms": last, "record_keys": blob}
                                            for first, last, blob in _clusters(batch)])
    conn.execute(keys.delete().where(kept))
    op.drop_index('fold_keys_expiring', table_name='fold_keys')


def downgrade() -> None:
    op.create_index('fold_keys_expiring', 'fold_keys', ['part', 'until_offset'], unique=False)
    conn = op.get_bind()
    keys = sa.table('fold_keys', sa.column('part'), sa.column('key'), sa.column('until_offset'))
    digests = sa.table('fold_digests', sa.column('part'), sa.column('until_offset'), sa.column('record_keys'))
    for part, until, blob in conn.execute(sa.select(digests.c.part, digests.c.until_offset, digests.c.record_keys)).all():
        blob = bytes(blob)
        conn.execute(keys.insert(), [{"part": part, "key": blob[start:start + KEY_BYTES], "until_offset": until}
                                     for start in range(0, len(blob), KEY_BYTES)])
    op.drop_index('fold_digests_by_instant', table_name='fold_digests')
    op.drop_table('fold_digests')
