"""One partition of a stream task's state: a RocksDB store that holds committed state only.

Owns the store of one (store name, partition) under the worker's data folder:
- the primary column family, whose every write is sent to the changelog;
- a local `index` column family that derives from the primary values (the
  learner processor's due-time index) and is rebuilt on restore, never sent;
- a `meta` column family with the checkpoint: the changelog offset a restore
  of this store must read from.

Writes of a batch wait in an overlay (`get` reads it first) until the batch's
transaction commits; then one RocksDB WriteBatch applies them together with
the new checkpoint (`commit`), so a `kill -9` at any point leaves the store
and its checkpoint in agreement, and a warm restart replays only the tail of
the changelog. An aborted transaction drops the overlay (`discard`). This is
Kafka Streams' record cache plus its checkpoint file, with the checkpoint
inside the store's own atomic write instead of beside it.

Decoded values may be cached beside the store (`remember`/`cached`), so a busy
key is not decoded at every input; whatever drops or replaces a value drops
its cached object too. The cache (`DecodedCache`) is one per task, shared by
its store partitions, so its bound is the worker's, however many partitions
it holds.
"""

from __future__ import annotations

import itertools
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

from rocksdict import Options, Rdict, WriteBatch

_CHECKPOINT = b"changelog-offset"
# RocksDB deletes a write-ahead log file only once every column family has flushed what it
# holds of it, and the `meta` family (a checkpoint per commit) and the `index` family never
# fill a memtable: without a cap the log kept everything ever written (159 MiB for 125,000
# learners' entries, a million learners' share of one partition), and a store opened after
# `kill -9` replays all of it (5 - 6 s per partition on a loaded 2-core box; bench/store_reopen.py).
# Past the cap RocksDB flushes the families that hold the oldest log. Memtables of 16 MiB
# instead of 64 keep what a replay rebuilds, and what every open store partition holds in
# memory, small too.
# RocksDB looks at the cap only when a write comes, and switches to a new log file only
# when a memtable is switched; while the oldest log's flush runs it switches none, so the
# live log grows with every write until the primary family's memtable fills. A memtable
# larger than the cap let the log outgrow it by that much, and keep it when the writes
# stopped (a 12 MiB live log under a 1 MiB cap, the flush lagging on a loaded box): the
# memtable is never larger than the cap.
WAL_LIMIT_BYTES = 16 << 20
MEMTABLE_BYTES = 16 << 20


def _options(wal_limit_bytes: int) -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.create_missing_column_families(True)
    options.set_max_total_wal_size(wal_limit_bytes)
    # A cap of 0 is RocksDB's own (four times the memtables): nothing to keep under.
    options.set_write_buffer_size(min(MEMTABLE_BYTES, wal_limit_bytes or MEMTABLE_BYTES))
    return options


class DecodedCache:
    """Decoded values of a task's store partitions, at most `limit` in all; the one remembered
    longest ago goes first. Each store partition had its own bound of 50,000 before: a worker
    of 8 partitions with a million learners cached 400,000 entries (bench/restart_at_scale.py),
    and the bound grew with the partitions a worker holds. An OrderedDict drops its oldest in
    constant time, where a dict's first key is found by skipping the slots deleted before it."""

    __slots__ = ("limit", "_objects")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._objects: OrderedDict[tuple[int, bytes], Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, owner: int, key: bytes) -> Any:
        return self._objects.get((owner, key))

    def put(self, owner: int, key: bytes, decoded: Any) -> None:
        objects, slot = self._objects, (owner, key)
        if slot in objects:
            objects.move_to_end(slot)
        elif len(objects) >= self.limit:
            if not objects:
                return  # a limit of 0: nothing is cached
            objects.popitem(last=False)
        objects[slot] = decoded

    def drop(self, owner: int, key: bytes) -> None:
        self._objects.pop((owner, key), None)

    def drop_owner(self, owner: int) -> None:
        """Everything one store partition remembered (its batch aborted, it is closed)."""
        for slot in [slot for slot in self._objects if slot[0] == owner]:
            del self._objects[slot]


_owners = itertools.count()


class PartitionStore:
    def __init__(self, path: Path, partition: int, wal_limit_bytes: int = WAL_LIMIT_BYTES,
                 cache: DecodedCache | None = None):
        self.path = path
        self.partition = partition
        self._wal_limit_bytes = wal_limit_bytes
        self._cache = cache if cache is not None else DecodedCache(50_000)
        self._owner = next(_owners)
        self._open()

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        families = {"index": Options(raw_mode=True), "meta": Options(raw_mode=True)}
        self._db = Rdict(str(self.path), _options(self._wal_limit_bytes), column_families=families)
        self._index = self._db.get_column_family("index")
        self._meta = self._db.get_column_family("meta")
        self._index_handle = self._db.get_column_family_handle("index")
        self._meta_handle = self._db.get_column_family_handle("meta")
        self._pending: dict[bytes, bytes | None] = {}
        self._pending_index: dict[bytes, bytes | None] = {}

    # ------------------------------------------------------------ reads and writes

    def get(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        return self._db.get(key)

    def put(self, key: bytes, value: bytes, decoded: Any = None) -> None:
        self._pending[key] = value
        if decoded is not None:
            self.remember(key, decoded)
        else:
            self._cache.drop(self._owner, key)

    def delete(self, key: bytes) -> None:
        self._pending[key] = None
        self._cache.drop(self._owner, key)

    def keys(self, prefix: bytes) -> list[bytes]:
        """Every primary key starting with `prefix`, this batch's included, in key order."""
        found = set()
        for key in self._db.keys(from_key=prefix):
            if not key.startswith(prefix):
                break
            found.add(key)
        for key, value in self._pending.items():
            if key.startswith(prefix):
                (found.add if value is not None else found.discard)(key)
        return sorted(found)

    def committed_keys(self, prefix: bytes, limit: int) -> list[bytes]:
        """Up to `limit` committed primary keys starting with `prefix`: safe to call from
        another thread than the task's (it reads RocksDB only, never this batch's overlay)."""
        found = []
        for key in self._db.keys(from_key=prefix):
            if not key.startswith(prefix) or len(found) >= limit:
                break
            found.append(key)
        return found

    def put_index(self, key: bytes, value: bytes = b"") -> None:
        self._pending_index[key] = value

    def delete_index(self, key: bytes) -> None:
        self._pending_index[key] = None

    def index_range(self, start: bytes, stop: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` index entries with start <= key < stop, in key order, this batch's included."""
        added = sorted((k, v) for k, v in self._pending_index.items() if v is not None and start <= k < stop)
        found: list[tuple[bytes, bytes]] = []
        stored = self._index_items(start, stop)
        next_stored = next(stored, None)
        position = 0
        while len(found) < limit:
            next_added = added[position] if position < len(added) else None
            if next_stored is None and next_added is None:
                break
            if next_added is None or (next_stored is not None and next_stored[0] < next_added[0]):
                key, value = next_stored
                next_stored = next(stored, None)
                if key in self._pending_index:
                    continue  # deleted, or re-added (then it comes from `added`)
            else:
                key, value = next_added
                position += 1
                if next_stored is not None and next_stored[0] == key:
                    next_stored = next(stored, None)
            found.append((key, value))
        return found

    def _index_items(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._index.items(from_key=start):
            if key >= stop:
                return
            yield key, value

    # ------------------------------------------------------------ decoded objects

    def cached(self, key: bytes) -> Any:
        return self._cache.get(self._owner, key)

    def remember(self, key: bytes, decoded: Any) -> None:
        self._cache.put(self._owner, key, decoded)

    # ------------------------------------------------------------ the batch

    @property
    def dirty(self) -> bool:
        return bool(self._pending) or bool(self._pending_index)

    def changes(self) -> dict[bytes, bytes | None]:
        """This batch's primary writes, one per key (the last): what goes to the changelog."""
        return self._pending

    def commit(self, checkpoint: int | None) -> None:
        """Apply the batch (its transaction committed) and, if given, the new checkpoint, in one write."""
        batch = WriteBatch(raw_mode=True)
        for key, value in self._pending.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        for key, value in self._pending_index.items():
            if value is None:
                batch.delete(key, self._index_handle)
            else:
                batch.put(key, value, self._index_handle)
        if checkpoint is not None:
            batch.put(_CHECKPOINT, str(checkpoint).encode(), self._meta_handle)
        self._db.write(batch)
        self._pending = {}
        self._pending_index = {}

    def discard(self) -> None:
        """Drop the batch (its transaction aborted) and every cached object it may have touched."""
        self._pending = {}
        self._pending_index = {}
        self._cache.drop_owner(self._owner)

    @property
    def checkpoint(self) -> int | None:
        raw = self._meta.get(_CHECKPOINT)
        return int(raw) if raw is not None else None

    def wipe(self) -> None:
        """Remove everything, checkpoint included (a changelog that no longer matches the store)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        self._open()

    def close(self) -> None:
        self._cache.drop_owner(self._owner)
        # The column families hold the database too: RocksDB's lock goes with the last of them.
        for family in (self._index, self._meta):
            family.close()
        self._db.close()
        self._index = self._meta = self._index_handle = self._meta_handle = self._db = None
