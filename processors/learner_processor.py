"""The learner processor: every input of a learner, in order, through the engine.

A processor of the stream runtime (`processors.stream.contract`): it reads
school events and control commands (operator commands and the fan-out of
definition changes), all keyed `school:user`, against its partition's store of
learner entries (`processors.learner_entries`), and fires the learners' due
timers from that store's due-time index. It knows the engine and nothing of
Kafka; the runtime makes each batch's outputs, store writes and input offsets
one transaction.

Per input: decode it into an engine command (undecodable or refused input is
dead-lettered with the reason, and a waiting caller gets a refusal receipt),
skip it if the learner decided it before (an operator's reprocessing), call
`engine.decider.handle` with this worker's catalog and clock, keep the new
state and pending timers, emit the outputs. A record in another partition than
its key's (a producer with another partitioner) is moved to its learner's
partition instead of being applied here.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Protocol, Sequence

from aiokafka.partitioner import murmur2

from engine.catalog import Catalog
from engine.commands import FireTimer, HandleSchoolEvent
from engine.decider import handle
from engine.timer_queue import due_millis
from processors import learner_entries as entries
from processors import metrics, records
from processors.config import Topics
from processors.dead_letters import dead_letter_record
from processors.receipts import receipt_record, refusal_receipt, wants_receipt
from processors.stream.contract import Emit, Input, Output
from processors.stream.state_store import PartitionStore
from schemas.codec import DecodeError, decode, encode

log = logging.getLogger(__name__)

_SKIPS_LOGGED_EVERY = 1_000


class Definitions(Protocol):
    """What the processor needs of the worker's definitions: the catalog, and a wait for a version."""

    @property
    def catalog(self) -> Catalog: ...

    def wait_for_version_blocking(self, automation_id: str, version: int, timeout: float = 30.0) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@functools.lru_cache(maxsize=1 << 16)
def partition_of(key: bytes, partitions: int) -> int:
    """Where Kafka's default partitioner (Java's murmur2) puts a key: where its learner lives.
    Remembered for the busiest keys: the misplaced-record check asks at every input, and
    aiokafka's murmur2 is pure Python (~3% of a worker's CPU per school event)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_ms = due_millis  # one notion of "the same instant" for the live index and simulate's queue


class LearnerProcessor:
    name = "learners"
    may_wait = 0.0

    def __init__(self, topics: Topics, partitions: int, definitions: Definitions, clock: Clock,
                 timers_per_batch: int = 500):
        self.topics = (topics.school_events, topics.control)
        self._out = topics
        self._partitions = partitions
        self._definitions = definitions
        self._clock = clock
        self._timers_per_batch = timers_per_batch
        self._decoders = {topics.school_events: records.school_event_command, topics.control: records.control_command}
        self._skipped = 0
        self._moved_logged: set[str] = set()
        self._sources: dict[tuple[str, int], str] = {}  # (topic, partition) -> "topic/partition"
        # The entries changed since the last save, dumped once each (`_save`): the store's batch
        # keeps one value per key, so a learner with ten inputs in a batch was encoded ten times.
        self._unsaved: dict[bytes, entries.LearnerEntry] = {}

    # ------------------------------------------------------------ inputs

    def process(self, partition: int, inputs: Sequence[Input], store: PartitionStore, emit: Emit) -> None:
        self._unsaved = {}  # nothing of an aborted batch's
        self._count_inputs(inputs)
        for item in inputs:
            if self._misplaced(item, partition, emit):
                continue
            try:
                command, school, user, version = records.learner_input(self._decoders, item)
            except records.Undecodable as error:
                self._refuse(item, str(error), emit)
                continue
            if user == records.BROADCAST_USER:
                self._broadcast(command, school, partition, item, version, store, emit)
                continue
            outputs = self._apply(command, school, user, partition, item, store, emit)
            if outputs is not None and isinstance(command, HandleSchoolEvent) and wants_receipt(item.headers):
                sent = [(audience, value) for audience, value, _ in outputs]
                receipt = receipt_record(command.event, sent, self._definitions.catalog, self._clock.now())
                emit(Output(self._out.receipts, item.key, receipt, partition))
        self._save(store)

    @staticmethod
    def _count_inputs(inputs: Sequence[Input]) -> None:
        """The inputs counted per topic, one counter call per topic and batch (a labelled
        counter's `inc` per input cost ~3% of an input's CPU)."""
        per_topic: dict[str, int] = {}
        for item in inputs:
            per_topic[item.topic] = per_topic.get(item.topic, 0) + 1
        for topic, inputs_of_topic in per_topic.items():
            metrics.count("automations_inputs_total", inputs_of_topic, topic=topic)

    def _save(self, store: PartitionStore) -> None:
        """Put each entry changed since the last save into the store's batch, dumped once."""
        for key, entry in self._unsaved.items():
            store.put(key, entries.dump(entry), entry)
        self._unsaved = {}

    def _misplaced(self, item: Input, partition: int, emit: Emit) -> bool:
        """Move a record its producer put in another partition than its key's (librdkafka's and
        Sarama's default partitioners are not Java's): applied here, it would split its learner's
        state across two partitions. A broadcast (`school:*`) is in every partition on purpose."""
        key = item.key
        if key is None or key.endswith(b":" + records.BROADCAST_USER.encode()):
            return False
        home = partition_of(key, self._partitions)
        if home == partition:
            return False
        emit(Output(item.topic, key, item.value if item.value is not None else b"", home, item.headers or None))
        metrics.count("automations_inputs_moved_total", topic=item.topic)
        school = key.split(b":", 1)[0].decode("utf-8", "replace")
        if school not in self._moved_logged:
            self._moved_logged.add(school)
            log.warning("%s: key %r belongs in partition %d, not %d (a producer with another partitioner than "
                        "Kafka's default murmur2); moved there. Logged once per school; counted in "
                        "automations_inputs_moved_total", item.position, key, home, partition)
        return True

    def _refuse(self, item: Input, reason: str, emit: Emit) -> None:
        emit(Output(self._out.dead_letter, item.key, dead_letter_record(item, reason, self._clock.now())))
        metrics.count("automations_dead_letters_total", source_topic=item.topic)
        if item.topic == self._out.school_events and wants_receipt(item.headers):
            emit(Output(self._out.receipts, item.key, refusal_receipt(item, reason, self._clock.now()), item.partition))

    def _broadcast(self, command, school: str, partition: int, item: Input, version: int, store: PartitionStore,
                   emit: Emit) -> None:
        """A definition change for every learner of the school this partition holds."""
        if not self._definitions.wait_for_version_blocking(command.automation_id, version):
            log.warning("%s: definitions version %d of %s not seen within 30s; applying with what is loaded",
                        item.position, version, command.automation_id)
        self._save(store)  # the learners this batch made are among the store's keys
        for key in store.keys(f"{school}:".encode()):
            user = key.decode().split(":", 1)[1]
            self._apply(command, school, user, partition, item, store, emit)

    def _apply(self, command, school: str, user: str, partition: int, item: Input, store: PartitionStore,
               emit: Emit) -> list[tuple[str, bytes, bytes | None]] | None:
        """Decide one command for one learner; returns its outputs (None: decided before)."""
        key = f"{school}:{user}".encode()
        entry = self._entry(store, key, school, user)
        # The input's source (`topic/partition`) as its decided marks name it, made once per topic
        # and partition: a position's text per input, split again by the marks, was ~3% of an input.
        source = self._sources.get((item.topic, item.partition))
        if source is None:
            source = self._sources[(item.topic, item.partition)] = f"{item.topic}/{item.partition}"
        position = f"{source}/{item.offset}"
        if entry.marks.decided_before_at(source, item.offset, item.timestamp_ms):
            self._skipped_as_decided(position)
            return None
        outputs = self._decide(entry, key, command, position, partition, store, emit)
        entry.marks.decided_at(source, item.offset, item.timestamp_ms)
        self._unsaved[key] = entry
        return outputs

    def _skipped_as_decided(self, position: str) -> None:
        self._skipped += 1
        metrics.count("automations_inputs_decided_before_total")
        if self._skipped % _SKIPS_LOGGED_EVERY == 1:
            log.info("%s was decided before (reprocessing): nothing decided or sent again; %d such inputs so far",
                     position, self._skipped)

    # ------------------------------------------------------------ deciding

    def _entry(self, store: PartitionStore, key: bytes, school: str, user: str) -> entries.LearnerEntry:
        entry = self._unsaved.get(key)
        if entry is not None:  # the decoded cache may have let it go; the store holds an older value
            return entry
        entry = store.cached(key)
        if entry is None:
            entry = entries.load(store.get(key), school, user)
            store.remember(key, entry)
        return entry

    def _decide(self, entry: entries.LearnerEntry, key: bytes, command, position: str, partition: int,
                store: PartitionStore, emit: Emit) -> list[tuple[str, bytes, bytes | None]]:
        """Outputs as (audience, value, the automation-runs key or None)."""
        now = self._clock.now()
        outcome = handle(command, entry.state, self._definitions.catalog, now)
        state = entry.state
        outputs = records.keyed_output_records(outcome.events, state.school, state.user)
        self._keep_timers(entry, key, outcome.events, outputs, store)
        if isinstance(command, FireTimer):
            # The timers' log: the timer is done (the engine no-ops a stale one).
            outputs.append(("delays", records.timer_record("fired", command.timer, fired_at=now), None))
        if outcome.rejected is not None:
            reason = outcome.rejected.reason
            outputs.append(("dead_letter", self._rejection(reason, position, state.key, now), None))
            metrics.count("automations_dead_letters_total", source_topic=position.rsplit("/", 2)[0])
        entry.state = outcome.state
        topics = self._out
        for audience, value, runs_key in outputs:
            if audience == "automation_runs":
                emit(Output(topics.automation_runs, runs_key, value))
            else:
                emit(Output(getattr(topics, audience), key, value, partition))
        return outputs

    def _rejection(self, reason: str, position: str, key: str, now: datetime) -> bytes:
        topic, partition, offset = position.rsplit("/", 2)
        return encode("dead_letter", {
            "reason": f"rejected: {reason}", "source_topic": topic, "partition": int(partition),
            "offset": int(offset), "key": key, "value": b"", "received_at": now,
        })

    def _keep_timers(self, entry: entries.LearnerEntry, key: bytes, events, outputs, store: PartitionStore) -> None:
        """Follow the engine's timer events in the learner's pending timers and the due-time index."""
        # output_records wrote one delays record per timer event, in the events' order.
        scheduled = iter([value for audience, value, _ in outputs if audience == "delays"])
        for event in events:
            kind = event.type
            if kind == "timer_scheduled":
                record = next(scheduled)
                timer = event.timer
                previous, pending = entry.timers.schedule(timer.id, _ms(timer.due_at), record)
                _unindex(store, key, timer.id, previous)
                store.put_index(entries.index_key(pending.due_ms, pending.sequence, key, timer.id),
                                      entries.index_value(key, timer.id))
            elif kind == "timer_cancelled":
                next(scheduled)
                pending = entry.timers.get(event.timer_id)
                # A cancellation names a schedule by id and due time (engine/timer_queue.py).
                if pending is not None and pending.due_ms == _ms(event.due_at):
                    _unindex(store, key, event.timer_id, entry.timers.remove(event.timer_id))

    # ------------------------------------------------------------ timers and restores

    def punctuate(self, partition: int, store: PartitionStore, emit: Emit, limit: int | None = None) -> int:
        """Fire up to `timers_per_batch` (and `limit`) due timers of this partition, in due order."""
        now = self._clock.now()
        most = self._timers_per_batch if limit is None else min(limit, self._timers_per_batch)
        self._unsaved = {}
        due = store.index_range(b"", b"%015d|\xff" % _ms(now), most)
        position = f"{self._out.delays}/{partition}/-1"  # a timer is no Kafka input: it has no offset
        fired = 0
        for index_key, value in due:
            store.delete_index(index_key)
            learner, timer_id = entries.index_target(value)
            school, user = learner.decode().split(":", 1)
            entry = self._entry(store, learner, school, user)
            pending = entry.timers.get(timer_id)
            if pending is None or entries.index_key(pending.due_ms, pending.sequence, learner, timer_id) != index_key:
                continue  # the timer was replaced or cancelled in this batch
            entry.timers.remove(timer_id)
            try:
                timer = records.timer_from_record(decode("timer", pending.record))
            except DecodeError as error:  # only a store written by another version could hold one
                log.error("timer %s of %s unreadable (%s); dropped", timer_id, learner, error.reason)
                self._unsaved[learner] = entry
                continue
            self._decide(entry, learner, FireTimer(timer=timer), position, partition, store, emit)
            self._unsaved[learner] = entry
            fired += 1
            lateness = (now - timer.due_at).total_seconds()
            metrics.observe("automations_timer_lateness_seconds", max(lateness, 0.0))
        self._save(store)
        if fired:
            metrics.count("automations_timers_fired_total", fired)
        return fired

    def restored(self, store: PartitionStore, key: bytes, value: bytes | None) -> None:
        """One changelog record: the entry, and its timers in the due-time index instead of the old ones."""
        for timer_id, timer in entries.stored_timers(store.get(key)):
            _unindex(store, key, timer_id, timer)
        if value is None:
            store.delete(key)
            return
        store.put(key, value)
        for timer_id, timer in entries.stored_timers(value):
            store.put_index(entries.index_key(timer.due_ms, timer.sequence, key, timer_id), entries.index_value(key, timer_id))


def _unindex(store: PartitionStore, key: bytes, timer_id: str, timer: entries.PendingTimer | None) -> None:
    if timer is not None:
        store.delete_index(entries.index_key(timer.due_ms, timer.sequence, key, timer_id))
