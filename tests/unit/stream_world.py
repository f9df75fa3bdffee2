"""A processor of the stream runtime, run without Kafka: given inputs, when a batch commits, then outputs.

`ProcessorWorld` holds what `processors.stream.task` would: one store per
partition (real RocksDB under a test folder), the emitted outputs, input
offsets per topic partition and a controllable clock. `deliver` runs one
batch through `process`, `tick` one through `punctuate` (due timers), and
each batch is committed to the store as the runtime does after its
transaction; `abort` drops a batch instead, as an aborted transaction does.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.catalog import Catalog
from engine.definitions import Automation
from engine.school_events import SchoolEvent
from processors.config import Topics
from processors.ingest import encode_event
from processors.learner_processor import LearnerProcessor, partition_of
from processors.stream.contract import Input, Output
from processors.stream.state_store import PartitionStore
from schemas.codec import decode

TOPICS = Topics(prefix="t")
KINDS = {TOPICS.actions: "action", TOPICS.run_status: "run_status", TOPICS.delays: "timer",
         TOPICS.dead_letter: "dead_letter", TOPICS.receipts: "receipt", TOPICS.automation_runs: "run_status",
         TOPICS.control: "control"}


class Clock:
    def __init__(self, now: datetime):
        self._now = now

    def now(self) -> datetime:
        return self._now

    def move_to(self, instant: datetime) -> None:
        self._now = max(self._now, instant)


class Definitions:
    def __init__(self, automations: list[Automation]):
        self.catalog = Catalog.of(automations)

    def wait_for_version_blocking(self, automation_id: str, version: int, timeout: float = 30.0) -> bool:
        return True


class ProcessorWorld:
    def __init__(self, folder: Path, automations: list[Automation], partitions: int = 1,
                 start: datetime = datetime(2027, 3, 1, tzinfo=timezone.utc), timers_per_batch: int = 500):
        self.folder = folder
        self.partitions = partitions
        self.clock = Clock(start)
        self.definitions = Definitions(automations)
        self.processor = LearnerProcessor(TOPICS, partitions, self.definitions, self.clock, timers_per_batch)
        self.stores: dict[int, PartitionStore] = {}
        self.outputs: list[Output] = []
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.changelog: list[tuple[int, bytes, bytes | None]] = []  # what the runtime would send, in order

    def store(self, partition: int) -> PartitionStore:
        if partition not in self.stores:
            self.stores[partition] = PartitionStore(self.folder / f"store-{partition}", partition)
        return self.stores[partition]

    def input(self, topic: str, key: bytes, value: bytes, partition: int | None = None,
              headers: tuple = (), timestamp_ms: int | None = 1) -> Input:
        partition = partition_of(key, self.partitions) if partition is None else partition
        offset = self.offsets[(topic, partition)]
        self.offsets[(topic, partition)] += 1
        return Input(topic, partition, offset, key, value, timestamp_ms, headers)

    def event(self, event: SchoolEvent, **options) -> Input:
        key, value = encode_event(event)
        return self.input(TOPICS.school_events, key.encode(), value, **options)

    def deliver(self, *inputs: Input, commit: bool = True) -> list[Output]:
        """One batch: the inputs at the clock's instant, grouped by partition, then committed."""
        before = len(self.outputs)
        by_partition: dict[int, list[Input]] = defaultdict(list)
        for item in inputs:
            by_partition[item.partition].append(item)
        for partition, items in by_partition.items():
            self.processor.process(partition, items, self.store(partition), self.outputs.append)
        self._end_batch(commit)
        return self.outputs[before:]

    def tick(self, to: datetime | None = None, commit: bool = True) -> int:
        """Move the clock and fire what is due, batch after batch, until nothing is."""
        if to is not None:
            self.clock.move_to(to)
        fired = 0
        while True:
            done = sum(self.processor.punctuate(p, self.store(p), self.outputs.append) for p in range(self.partitions))
            self._end_batch(commit)
            fired += done
            if not done or not commit:
                return fired

    def advance(self, **delta) -> int:
        return self.tick(self.clock.now() + timedelta(**delta))

    def _end_batch(self, commit: bool) -> None:
        for partition, store in self.stores.items():
            if commit:
                self.changelog += [(partition, key, value) for key, value in store.changes().items()]
                store.commit(None)
            else:
                store.discard()

    def records(self, topic: str) -> list[dict]:
        return [decode(KINDS[topic], output.value) for output in self.outputs if output.topic == topic]

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
