"""The records a partition folded lately, by digest: a batch's in a row or two, not a row each.

Owns `RecordDigests`, the database's form of the in-memory fold's `_seen`
(`projections.partition`: a byte-identical re-send counts once, also in the
`applied` count), and `seen_key`, a record's key in it: the record's instant
(6 bytes, milliseconds, big-endian) and 10 bytes of its digest.

A batch's new keys are written sorted, side by side in one blob a cluster
of close instants (`fold_digests`: a cluster ends where two of its sorted
instants are more than `GAP_MS` apart), with the cluster's first and last
instant. A re-send is byte-identical, so it carries the original's instant:
a batch reads only the rows whose instants overlap its own clusters'
(usually the partition's last batch or two), where a row a key cost an index
entry written and looked up for every record (bench/BENCHMARKS.md). A
cluster keeps apart the odd record whose instant is far from its batch's
(a worker's clock behind), so one such record does not make its batch's row
overlap everything. Rows expire with `until_offset`: a re-send comes soon
after the original, and a later one repeats decisions the fold refuses
anyway (`projections.store.fold_seen_kept`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.engine import Connection

from projections import schema as t
from projections.upsert import insert_rows

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
KEY_BYTES = 16
GAP_MS = 60_000  # instants further apart than this start a new cluster (a new row)
_MASK = 0xFFFFFFFFFFFF


def seen_key(at: datetime, digest: bytes) -> bytes:
    """A record's key: its instant `at` (milliseconds) and 10 bytes of its digest. A
    partition's records come in about their instants' order, so a batch's keys are close."""
    since = at - EPOCH
    ms = (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000
    return (ms & _MASK).to_bytes(6, "big") + digest[:10]


def instant_of(key: bytes) -> int:
    return int.from_bytes(key[:6], "big")


def clusters(keys) -> list[tuple[int, int, list[bytes]]]:
    """`keys` sorted and cut where two neighbours' instants are more than GAP_MS apart:
    (first instant, last instant, keys) each."""
    found: list[tuple[int, int, list[bytes]]] = []
    from_bytes = int.from_bytes
    first = last = -GAP_MS - 1
    members: list[bytes] = []
    for key in sorted(keys):
        at = from_bytes(key[:6], "big")
        if at - last > GAP_MS:
            if members:
                found.append((first, last, members))
            first, members = at, []
        last = at
        members.append(key)
    if members:
        found.append((first, last, members))
    return found


class RecordDigests:
    """One partition's record keys: those the database holds for the instants read so
    far (`prefetch`), and those this batch adds (`add`, written by `write`)."""

    def __init__(self, conn: Connection, part: int) -> None:
        self.conn, self.part = conn, part
        self.known: set[bytes] = set()
        self.new: list[bytes] = []
        self._read: list[tuple[int, int]] = []  # the instant ranges whose rows are in `known`

    def prefetch(self, keys) -> None:
        """Reads the rows whose instants overlap the clusters of `keys` (a batch's)."""
        self._load([(first, last) for first, last, _ in clusters(keys)])

    def _load(self, ranges: list[tuple[int, int]]) -> None:
        if not ranges:
            return
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        overlaps = " OR ".join([f"(last_ms >= {mark} AND first_ms <= {mark})"] * len(ranges))
        params = (self.part, *(bound for first, last in ranges for bound in (first, last)))
        rows = self.conn.exec_driver_sql(f"SELECT record_keys FROM fold_digests WHERE part = {mark} AND ({overlaps})", params)
        known = self.known
        for (blob,) in rows:
            blob = bytes(blob)
            known.update(blob[start:start + KEY_BYTES] for start in range(0, len(blob), KEY_BYTES))
        self._read += ranges

    def seen(self, key: bytes) -> bool:
        """Whether a record of this key was folded (and its row has not expired)."""
        if key in self.known:
            return True
        at = instant_of(key)
        if not any(first <= at <= last for first, last in self._read):  # a record no prefetch foresaw
            self._load([(at, at)])
            return key in self.known
        return False

    def add(self, key: bytes) -> None:
        self.known.add(key)
        self.new.append(key)

    def write(self, until_offset: int) -> None:
        """The batch's keys, kept until the partition's next offset reaches `until_offset`."""
        rows = [(self.part, until_offset, first, last, b"".join(members)) for first, last, members in clusters(self.new)]
        insert_rows(self.conn, t.fold_digests, ("part", "until_offset", "first_ms", "last_ms", "record_keys"), rows)

    @staticmethod
    def expire(conn: Connection, part: int, next_offset: int) -> None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"DELETE FROM fold_digests WHERE part = {mark} AND until_offset <= {mark}", (part, next_offset))
