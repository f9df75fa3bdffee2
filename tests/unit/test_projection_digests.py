"""The fold's record digests (`fold_digests`, revision 0006), on both stores.

A byte-identical re-send counts once, also in the `applied` count, as in the
in-memory fold: the digests are kept a batch's cluster of close instants to a
row, a record whose instant is far from its batch's gets a row of its own,
and an upgrade from revision 0004 (a digest a row in `fold_keys`) moves the
kept digests over, so a record folded before it still counts once after it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select

import projections
from projections import schema as t
from projections import sql_queries
from projections.partition import PartitionViews
from projections.queries import snapshot
from projections.record_digests import GAP_MS, KEY_BYTES, clusters, instant_of, seen_key
from projections.store import ProjectionStore
from schemas.codec import encode
from tests.unit.test_projection_store import fold_into, in_memory, mixed


def _migrate_to(store: ProjectionStore, revision: str, down: bool) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(projections.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def _kept_digests(store: ProjectionStore) -> set[tuple[int, bytes]]:
    with store.connect() as conn:
        rows = conn.execute(select(t.fold_digests.c.part, t.fold_digests.c.record_keys)).all()
    return {(part, bytes(blob)[start:start + KEY_BYTES]) for part, blob in rows for start in range(0, len(bytes(blob)), KEY_BYTES)}


def _applied(store: ProjectionStore) -> int:
    return sum(applied for applied, _ in store.counts().values())


def test_clusters_cut_where_instants_are_far_apart():
    def key(ms: int, tail: bytes) -> bytes:
        return ms.to_bytes(6, "big") + tail * 10

    a, b, c, d = key(1_000, b"a"), key(5_000, b"b"), key(1_000 + GAP_MS + 1, b"c"), key(5_000 + GAP_MS, b"d")
    assert clusters([d, b, c, a]) == [(1_000, 5_000 + GAP_MS, [a, b, c, d])]  # no two neighbours more than GAP_MS apart
    assert clusters([key(0, b"a"), key(GAP_MS + 1, b"b")]) == [(0, 0, [key(0, b"a")]), (GAP_MS + 1, GAP_MS + 1, [key(GAP_MS + 1, b"b")])]
    assert clusters([]) == []


def test_a_batch_keeps_its_digests_in_a_row_a_cluster_and_an_odd_instant_in_its_own(store_url):
    world = mixed()
    records = world.partitions[0]
    odd = dict(records[-1], at=records[-1]["at"] + timedelta(days=3))  # a worker's clock far ahead: its own row
    batch = records + [odd]
    store = ProjectionStore(store_url)
    store.migrate()
    fold_into(store, [batch], len(batch), from_bytes=True)
    with store.connect() as conn:
        rows = conn.execute(select(t.fold_digests.c.first_ms, t.fold_digests.c.last_ms, t.fold_digests.c.record_keys)).all()
    assert sum(len(row.record_keys) for row in rows) == KEY_BYTES * len(batch)
    assert len(rows) < len(batch) / 2  # a row holds many records' keys
    odd_ms = instant_of(seen_key(odd["at"], bytes(16)))
    assert [len(row.record_keys) for row in rows if row.first_ms <= odd_ms <= row.last_ms] == [KEY_BYTES]  # alone in its row
    # The odd record and the first half sent again, in a later batch: each counted once.
    fold_into(store, [batch + [dict(odd)] + [dict(r) for r in records[: len(records) // 2]]], 5, from_bytes=True)
    oracle = PartitionViews()
    for record in batch + [odd] + records[: len(records) // 2]:
        oracle.apply(dict(record), encoded=encode("run_status", record))
    assert _applied(store) == oracle.applied == len(batch)
    with store.connect() as conn:
        assert sql_queries.snapshot(conn) == snapshot([oracle])


def test_an_upgrade_from_revision_0004_keeps_the_digests_a_resend_meets(store_url):
    world = mixed()
    halves = [records[: len(records) // 2] for records in world.partitions]
    store = ProjectionStore(store_url)
    store.migrate()
    fold_into(store, halves, 3, from_bytes=True)
    kept = _kept_digests(store)
    assert len(kept) == sum(len(half) for half in halves)

    _migrate_to(store, "0004", down=True)  # a database as revision 0004 left it: a digest a row in fold_keys
    k = t.fold_keys.c
    with store.connect() as conn:
        rows = conn.execute(select(k.part, k.key).where(k.until_offset.is_not(None))).all()
    assert {(part, bytes(key)) for part, key in rows} == kept

    store.migrate()
    assert _kept_digests(store) == kept
    with store.connect() as conn:
        assert conn.execute(select(func.count()).where(k.until_offset.is_not(None))).scalar_one() == 0
    resent = [half + [dict(r) for r in half] + records[len(half):] for half, records in zip(halves, world.partitions)]
    fold_into(store, resent, 3, from_bytes=True)
    assert _applied(store) == sum(len(records) for records in world.partitions)
    with store.connect() as conn:
        assert sql_queries.snapshot(conn) == snapshot(in_memory(world))


def test_digests_are_kept_only_for_the_records_a_resend_can_follow(store_url):
    world = mixed()
    store = ProjectionStore(store_url, seen_kept=10)
    store.migrate()
    fold_into(store, world.partitions, 4, from_bytes=True)
    kept = _kept_digests(store)
    for part, records in enumerate(world.partitions):
        assert 0 < len({key for p, key in kept if p == part}) <= min(len(records), 10 + 4)
    with store.connect() as conn:
        assert sql_queries.snapshot(conn) == snapshot(in_memory(world))
