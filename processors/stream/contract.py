"""What a processor sees of the stream runtime, and what it owes it.

Owns the plain values that cross between `processors.stream.task` and a
processor (`Input`, `Output`), and the `Processor` protocol. A processor is a
function of (its partition's inputs, that partition's store) -> (outputs,
store writes): it never talks to Kafka, so it is tested without a broker.
Every topic a processor reads is co-partitioned with its store: partition p
of each input topic is processed against store partition p.

`Input` and `Output` are frozen msgspec Structs, not frozen dataclasses: the task
makes one per record consumed and per record produced, and a frozen dataclass
took ~0.8 us to build (each field set through `object.__setattr__`), a Struct
~0.1 us (bench/BENCHMARKS.md, "CPU per mix event after the processor's cuts").
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import msgspec

from processors.stream.state_store import PartitionStore


class Input(msgspec.Struct, frozen=True, gc=False):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def position(self) -> str:
        """`topic/partition/offset`: where the input sits, as dead letters and decided marks name it."""
        return f"{self.topic}/{self.partition}/{self.offset}"


class Output(msgspec.Struct, frozen=True, gc=False):
    topic: str
    key: bytes | None
    value: bytes
    # None: the topic's partitioner picks (Java's murmur2 of the key, as every Kafka
    # client does by default); a learner's outputs go to its learner's partition.
    partition: int | None = None
    headers: tuple[tuple[str, bytes], ...] | None = None


Emit = Callable[[Output], None]


class Processor(Protocol):
    name: str  # the store's name; its changelog is `<app id>-<name>-changelog` ("" : no store)
    topics: tuple[str, ...]
    # Seconds a batch of only this processor's records may wait for other records to share its
    # transaction (0: none): for records the task wrote itself and reads back,
    # which nobody waits for, while a record that comes meanwhile would wait behind their commit.
    may_wait: float

    def process(self, partition: int, inputs: Sequence[Input], store: PartitionStore | None, emit: Emit) -> None:
        """Apply the inputs (one partition's, in offset order per topic) to the store, emitting outputs."""

    def punctuate(self, partition: int, store: PartitionStore, emit: Emit, limit: int | None = None) -> int:
        """Periodic work of an owned partition inside the batch's transaction (due timers), at most
        `limit` items; returns how many it did, 0 when there was nothing to do."""

    def restored(self, store: PartitionStore, key: bytes, value: bytes | None) -> None:
        """Apply one changelog record to the store during a restore (and rebuild what derives from it)."""
