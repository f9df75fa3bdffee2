"""What the API server holds in memory, each folded from one topic.

Owns `RunStatusProjection` (the run-status topic folded into the
projections' database, `projections.store`: the views themselves live
there, not in this process), `DefinitionsView` (every
automation's latest definition, and the catalog that says which automations
an event could trigger) and `ReceiptWaiters` (synchronous ingest calls
waiting for the worker's receipt of their event). Each has what a
`TopicFeed` calls: `apply(record)` (no I/O), or the projection's `fold(partition,
records)` and `reset(partitions)` (the database, in a thread).
"""

from __future__ import annotations

import asyncio
import logging

from engine import lifecycle as lc
from engine.catalog import Catalog
from engine.decider import MAX_CAUSE_DEPTH
from engine.definitions import Automation, is_action, iter_steps
from engine.interpreter import ACTION_TARGETS, derived_event_data
from processors.definitions_log import fold_record
from processors.kafka_io import Record
from projections.projector import FoldedRecord, Projector
from projections.store import ProjectionStore
from schemas.codec import DecodeError, decode

log = logging.getLogger(__name__)


class RunStatusProjection:
    """The API server's projector of the run-status topic into the projections' store
    (`projections.projector`); each batch folded off the event loop, in a thread."""

    def __init__(self, store: ProjectionStore, topic: str) -> None:
        self.store = store
        self.topic = topic
        self._projector: Projector | None = None

    @property
    def projector(self) -> Projector:
        if self._projector is None:  # the store is migrated at the service's start, then asked
            self._projector = Projector(self.store, self.topic)
        return self._projector

    def start_offsets(self) -> dict[int, int]:
        return self.projector.start_offsets()

    async def fold(self, partition: int, records: list[FoldedRecord]) -> None:
        await asyncio.to_thread(self.projector.fold, partition, records)

    async def reset(self, partitions: list[int]) -> None:
        """The partitions' rows deleted, in a thread: a delete of millions of rows takes long,
        and the server answers meanwhile (the views count up from zero once it is done)."""
        await asyncio.to_thread(self.projector.reset, partitions)


class DefinitionsView:
    def __init__(self) -> None:
        self.state = lc.DefinitionsState()
        self.catalog = Catalog.of(())

    def apply(self, record: Record) -> None:
        if record.value is None:
            return
        try:
            decoded = decode("definition", record.value)
            self.state = fold_record(self.state, decoded)
        except (DecodeError, ValueError) as error:
            log.warning("definitions %d@%d skipped: %s", record.partition, record.offset, error)
            return
        self.catalog = Catalog.of(self.state.automations.values())

    def of_school(self, school: str) -> list[Automation]:
        return [a for a in self.state.automations.values() if a.school == school]

    def get(self, school: str, automation_id: str) -> Automation | None:
        automation = self.state.automations.get(automation_id)
        return automation if automation is not None and automation.school == school else None

    def could_run_synchronously(self, event) -> bool:
        """Could this event start a synchronous automation (ruling 14), itself or through
        the events its automations' actions derive (a tag one adds that a synchronous
        one starts on: the worker runs that chain while processing the event)?

        Leads and visitors start none. Every action of a flow counts, also one after a
        wait: a call may wait for a receipt that holds no synchronous run, never return
        before one that does.
        """
        if event.subject != "user":
            return False
        reached = [(event.type, event.data)]
        expanded: set[str] = set()
        for _ in range(MAX_CAUSE_DEPTH + 1):
            following = []
            for event_type, data in reached:
                for candidate in self.catalog.candidates(event.school, event_type, data):
                    automation = candidate.automation
                    if automation.mode == "synchronous":
                        return True
                    if automation.id not in expanded:
                        expanded.add(automation.id)
                        following.extend(derived_events(automation))
            if not following:
                return False
            reached = following
        return False


def derived_events(automation: Automation) -> list[tuple[str, dict]]:
    """The (type, data) of each learner event the automation's actions derive (engine.interpreter)."""
    derived = []
    for _, step in iter_steps(automation.flow):
        if not is_action(step):
            continue
        parameter, event_type = ACTION_TARGETS[step.type]
        target = getattr(step, parameter)
        if event_type is not None and target:
            derived.append((event_type, derived_event_data(step, parameter, target)))
    return derived


ReceiptKey = tuple[str, str, str]  # (school, user, event id)


class ReceiptWaiters:
    def __init__(self) -> None:
        self._waiting: dict[ReceiptKey, list[asyncio.Future]] = {}

    def expect(self, key: ReceiptKey) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        return future

    def forget(self, key: ReceiptKey, future: asyncio.Future) -> None:
        waiting = self._waiting.get(key, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self._waiting.pop(key, None)

    def apply(self, record: Record) -> None:
        try:
            receipt = decode("receipt", record.value)
        except DecodeError as error:
            log.warning("receipt %d@%d skipped: %s", record.partition, record.offset, error.reason)
            return
        key = (receipt["school"], receipt["user"], receipt["event_id"])
        for future in self._waiting.get(key, []):
            if not future.done():
                future.set_result(receipt)
                return
