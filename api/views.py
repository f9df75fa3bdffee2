"""What the API server holds in memory, each folded from one topic.

Owns `RunStatusViews` (one `projections.PartitionViews` per run-status
partition, so one partition can be rebuilt alone), `DefinitionsView` (every
automation's latest definition, and the catalog that says which automations
an event could trigger) and `ReceiptWaiters` (synchronous ingest calls
waiting for the worker's receipt of their event). Each has an `apply(record)`
that a `TopicFeed` calls; none does I/O.
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
from projections.long_lived import Freezer
from projections.partition import PartitionViews
from schemas.codec import DecodeError, decode

log = logging.getLogger(__name__)


class RunStatusViews:
    def __init__(self) -> None:
        self.parts: dict[int, PartitionViews] = {}
        self.undecodable = 0
        self._freezer = Freezer()

    def apply(self, record: Record) -> None:
        try:
            decoded = decode("run_status", record.value)
        except DecodeError as error:
            self.undecodable += 1
            log.warning("run-status %d@%d skipped: %s", record.partition, record.offset, error.reason)
            return
        part = self.parts.get(record.partition)
        if part is None:
            part = self.parts[record.partition] = PartitionViews()
        part.apply(decoded, encoded=record.value)
        self._freezer.folded()

    def reset(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.parts[partition] = PartitionViews()

    @property
    def all(self) -> list[PartitionViews]:
        return [self.parts[p] for p in sorted(self.parts)]


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
