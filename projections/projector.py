"""The projector: run-status records from Kafka into the projections' store.

Owns `Projector`, the part every reader of the topic shares (the API server
folding in-process, `automations projector run` in a consumer group): a
batch of one partition's records is decoded and folded in one transaction
with the partition's next offset (`ProjectionStore.fold`), from the offset
it stored last, whatever gaps the topic has (transaction markers). A record
no decoder reads is logged with its place, counted in the store
(`undecodable`) and passed: it never stops the fold and is never dropped
unseen. When the stored offset moved under it (a rebuild, or another
projector after a rebalance), the batch is refused, the offsets are read
again and `OffsetMoved` tells the caller to seek there.
"""

from __future__ import annotations

import gc
import json
import logging
from contextlib import contextmanager
from typing import Protocol, Sequence

from projections.store import RUN_STATUS, OffsetMoved, ProjectionStore
from schemas.codec import HEADER_LENGTH, MAGIC, SHIPPED, DecodeError, decode
from schemas.flat_reader import FlatReader

log = logging.getLogger(__name__)


class FoldedRecord(Protocol):
    """What the fold reads of a record: a `processors.kafka_io.Record`, or aiokafka's own
    message as the feeds fetch it (building a `Record` a message cost the API server's
    event loop 1.2 us of the fold's ~35 us a record, bench/BENCHMARKS.md)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


_LATEST = SHIPPED.latest("run_status")
_LATEST_HEADER = MAGIC + _LATEST.fingerprint
_LATEST_READER = FlatReader(json.loads(_LATEST.source))


def decode_run_status(value) -> dict:
    """`decode("run_status", value)`, a record framed with the latest schema read by its
    compiled reader straight away: the framing's checks (which framing, which writer,
    which reader) were a third of the decoding's cost, the same for every record the
    projector folds. Any other framing or writer, and any body the reader does not read
    exactly, goes through `decode` as before (which also says why it refuses one)."""
    if type(value) is bytes and value.startswith(_LATEST_HEADER):
        record = _LATEST_READER.read(value, HEADER_LENGTH)
        if record is not None:
            return record
    return decode("run_status", value)


@contextmanager
def collector_paused():
    """The cyclic garbage collector off while a batch folds. A batch makes tens of
    thousands of short-lived containers (decoded records, the fold's state, the rows),
    which start collections that walk the whole process's heap again and again: a fifth
    of the fold's time (bench/BENCHMARKS.md). They are freed by reference counting when
    the batch ends; what cyclic garbage a batch leaves is collected after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_started_heap() -> None:
    """Called once a folding process has started (modules imported, store migrated,
    clients connected): what it holds then is moved to the collector's permanent
    generation, which no collection walks. Those objects live as long as the process;
    without this every full collection walked them all again: in the API server's fold
    of 560,000 records, 14 full collections took 0.97 s, and 0.2 s once frozen
    (bench/BENCHMARKS.md). Reference counting still frees whatever of them is dropped."""
    gc.collect()
    gc.freeze()


class Projector:
    def __init__(self, store: ProjectionStore, topic: str = RUN_STATUS) -> None:
        self.store = store
        self.topic = topic
        self.stored: dict[int, int] = store.offsets(topic)

    def start_offsets(self) -> dict[int, int]:
        """Where each partition's reading resumes (absent: from its start)."""
        self.stored = self.store.offsets(self.topic)
        return dict(self.stored)

    def fold(self, partition: int, records: Sequence[FoldedRecord]) -> int:
        """Folds one partition's batch (in offset order); the records that changed a view."""
        if not records:
            return 0
        with collector_paused():
            return self._fold(partition, records)

    def _fold(self, partition: int, records: Sequence[FoldedRecord]) -> int:
        decoded, undecodable = [], 0
        for record in records:
            try:
                decoded.append((decode_run_status(record.value), record.value))
            except DecodeError as error:
                undecodable += 1
                log.warning("run-status %d@%d skipped: %s", record.partition, record.offset, error.reason)
        read_from = self.stored.get(partition, 0)
        next_offset = records[-1].offset + 1
        try:
            applied = self.store.fold(partition, decoded, read_from, next_offset, undecodable, topic=self.topic)
        except OffsetMoved:
            self.stored = self.store.offsets(self.topic)
            raise
        self.stored[partition] = next_offset
        return applied

    def reset(self, partitions: list[int]) -> None:
        """The partitions' rows and offsets cleared: folded again from offset 0."""
        self.store.reset(partitions, topic=self.topic)
        for partition in partitions:
            self.stored.pop(partition, None)

    def counts(self) -> dict[int, tuple[int, int]]:
        return self.store.counts(self.topic)
