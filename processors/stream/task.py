"""The stream task: batches in, one Kafka transaction per batch, state that only holds what committed.

Owns the loop that Kafka Streams' `StreamThread` and `StreamTask` run, for
processors that know nothing of Kafka (`processors.stream.contract`):
1. consume up to `max_batch` records (waiting at most `poll_timeout` when idle,
   so latency stays low) from every input topic, with a consumer group whose
   range assignment keeps equal partition numbers of co-partitioned topics on
   one worker;
2. hand each partition's records to its processor in offset order, then let
   each processor do its periodic work on the partitions it owns (due timers),
   bounded per batch so live records interleave;
3. in one transaction: the outputs, one changelog record per store key the
   batch touched (the last value), and the consumer offsets with the group's
   metadata (KIP-447: a worker the group has moved on from is fenced at its
   next commit, whatever its transactional id);
4. after the commit, write each touched store's batch and its changelog
   checkpoint in one RocksDB write.
An abortable failure aborts, drops the batch from the stores and rewinds the
consumer to the last commit, so the batch is processed again from committed
state; a fatal one (fenced) starts a new session: new clients, rejoin, and a
restore of each partition's store from its checkpoint. Partitions are
restored on assignment, before any of their records is processed.

Runs in a thread of its own: confluent-kafka's calls block, and the host's
event loop (Faust: web views, definitions) stays free.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from processors.stream import pauses
from processors.stream.contract import Input, Output, Processor
from processors.stream.restore import restore, stable_offsets
from processors.stream.state_store import DecodedCache, PartitionStore

log = logging.getLogger(__name__)


class _OncePer(logging.Filter):
    """Lets a message through once per `seconds`: librdkafka repeats a refused connection every
    few tens of milliseconds per client while the broker is away."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        what = text.split("(after", 1)[0][-160:]
        now = time.monotonic()
        if now - self._last.get(what, -self.seconds) < self.seconds:
            return False
        self._last[what] = now
        return True


# librdkafka's own log lines, through Python's logging (not straight to stderr), thinned.
client_log = logging.getLogger("processors.stream.kafka")
client_log.addFilter(_OncePer(30.0))


@dataclass(frozen=True)
class TaskConfig:
    bootstrap_servers: str
    group_id: str
    transactional_id: str
    data_dir: Path
    changelog_prefix: str
    instance_id: str | None = None  # the consumer's static group membership (KIP-345), if any
    max_batch: int = 1000
    poll_timeout: float = 0.05
    # Most items of periodic work (due timers) in one batch, over all partitions: each fired
    # timer writes records this task reads again (run ends), and live records wait behind them.
    punctuate_budget: int = 250
    # Decoded store values (learners' entries) kept across batches, over all the task's partitions.
    cached_entries: int = 100_000
    session_timeout: float = 45.0
    transaction_timeout: float = 30.0
    request_timeout: float = 10.0

    def changelog(self, store_name: str) -> str:
        return f"{self.changelog_prefix}-{store_name}-changelog"


# The first retry of a request the broker refused for now (doubling, up to librdkafka's 1 s).
RETRY_BACKOFF_MS = 10


class Fatal(Exception):
    """The session cannot go on (fenced, or the client is in a fatal state): start a new one."""


@dataclass
class TaskStats:
    """What the task has done since it started, for metrics (read from other threads); each
    batch's size and time go to the `on_batch` hook instead."""

    commits: int = 0
    aborts: int = 0
    restored: int = 0


class StreamTask:
    def __init__(self, config: TaskConfig, processors: Sequence[Processor],
                 on_failure: Callable[[BaseException], None] = lambda error: None,
                 on_batch: Callable[[int, float], None] = lambda records, seconds: None):
        self.config = config
        self.processors = list(processors)
        self._by_topic = {topic: processor for processor in self.processors for topic in processor.topics}
        self._may_wait = {topic: processor.may_wait for topic, processor in self._by_topic.items()}
        self._stores: dict[tuple[str, int], PartitionStore] = {}
        self._cache = DecodedCache(config.cached_entries)
        self._on_failure = on_failure
        self._on_batch = on_batch  # (records consumed, seconds to process and commit) of each committed batch
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._changelog_offsets: dict[tuple[str, int], int] = {}
        # Read by other threads (readiness, metrics): replaced, never changed in place.
        self.owned: frozenset[tuple[str, int]] = frozenset()
        self.restoring: frozenset[tuple[str, int]] = frozenset()
        self.committed: dict[tuple[str, int], int] = {}
        # Per owned partition: how far the consumer has read, every record before that processed and
        # committed (transaction markers included, which `committed` never counts).
        self.positions: dict[tuple[str, int], int] = {}
        # Per owned partition: its end at the last fetch. Read here, in the task's thread: a
        # consumer call from another thread waits for the task's `consume` to return.
        self.ends: dict[tuple[str, int], int] = {}
        self.broker_down_since: float | None = None
        self._probed_at = 0.0
        self._turn = 0
        self._rebalances = 0  # assignments and revocations so far: a batch's records must not span one
        # Whether the last batch's periodic work stopped at its bound with more perhaps due: the
        # next batch then neither long-polls nor waits for company (`_next_batch`).
        self._more_due = False
        self._calls = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-call")
        self.stats = TaskStats()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        pauses.install()
        self._thread = threading.Thread(target=self._run, name="stream-task", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 8.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for store in self._stores.values():
            try:
                store.close()
            except Exception:  # closing is best effort; the store's last write is already durable
                pass

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def store(self, name: str, partition: int) -> PartitionStore:
        """A store of this worker, opened on first use (for the host's read-only views too)."""
        key = (name, partition)
        if key not in self._stores:
            self._stores[key] = PartitionStore(self.config.data_dir / name / str(partition), partition, cache=self._cache)
        return self._stores[key]

    def end_offset(self, topic: str, partition: int) -> int | None:
        """The partition's end as the task's last fetch saw it (None: not known yet)."""
        return self.ends.get((topic, partition))

    def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self._session()
                backoff = 0.5
            except Exception as error:
                self._on_failure(error)
                log.error("stream task session ended (%s: %s); starting again in %.1fs",
                          type(error).__name__, error, backoff, exc_info=not isinstance(error, (Fatal, KafkaException)))
                for store in self._stores.values():
                    store.discard()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    # ------------------------------------------------------------ one session of clients

    def _client_config(self) -> dict:
        return {
            "bootstrap.servers": self.config.bootstrap_servers,
            "error_cb": self._client_error,
            "logger": client_log,
            "socket.connection.setup.timeout.ms": 5000,
        }

    def _client_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
            if self.broker_down_since is None:
                self.broker_down_since = time.monotonic()
                log.warning("Kafka unreachable: %s", error.str())

    def _probe(self, consumer: Consumer) -> None:
        """Ask the broker for metadata (at most every second) while it is taken for away: an
        idle worker has nothing else that would notice its return."""
        now = time.monotonic()
        if now - self._probed_at < 1.0:
            return
        self._probed_at = now
        try:
            consumer.list_topics(timeout=1.0)
        except KafkaException:
            return
        self._broker_answered()

    def _broker_answered(self) -> None:
        if self.broker_down_since is not None:
            log.warning("Kafka answers again")
            self.broker_down_since = None

    def _session(self) -> None:
        config = self.config
        producer = Producer({
            **self._client_config(),
            "transactional.id": config.transactional_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            # A transaction's first AddOffsetsToTxn / AddPartitionsToTxn right after the last commit
            # meets CONCURRENT_TRANSACTIONS until the coordinator has written that commit's markers
            # (a few ms); librdkafka retries it after retry.backoff.ms, 100 ms by default, which
            # was the p99 of a batch at low rates. Java's producer retries these after 20 ms.
            "retry.backoff.ms": RETRY_BACKOFF_MS,
            # Java's murmur2 for keyed records sent without a partition, as every Kafka client but librdkafka does.
            "partitioner": "murmur2_random",
            "transaction.timeout.ms": int(config.transaction_timeout * 1000),
        })
        self._until_done(lambda: producer.init_transactions(config.request_timeout))
        self._broker_answered()
        consumer = Consumer({
            **self._client_config(),
            "group.id": config.group_id,
            # Static membership (when an instance id is set): a worker back after a crash takes its
            # partitions again at once, where a new member would wait out the dead one's session
            # before any rebalance. The cost: a worker stopped for good stays in the group, and
            # hands its partitions over, after its session timeout.
            **({"group.instance.id": config.instance_id} if config.instance_id else {}),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "range",
            "session.timeout.ms": int(config.session_timeout * 1000),
            "heartbeat.interval.ms": int(min(3.0, config.session_timeout / 3) * 1000),
            "max.poll.interval.ms": 600_000,
        })
        restorer = Consumer({
            **self._client_config(),
            "group.id": f"{config.group_id}-restore",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,  # a restore reads to the end: no long poll at the tail
            "isolation.level": "read_committed",
        })
        # The changelogs' ends as written (high watermarks): a `read_committed` client's are the last
        # stable offsets, short of a previous owner's open transaction (processors/stream/restore.py).
        ends = Consumer({
            **self._client_config(),
            "group.id": f"{config.group_id}-restore",
            "isolation.level": "read_uncommitted",
        })
        consumer.subscribe(sorted(self._by_topic), on_assign=lambda c, tps: self._assigned(c, tps, restorer, ends),
                           on_revoke=self._revoked, on_lost=self._revoked)
        try:
            while not self._stopping.is_set():
                messages = self._next_batch(consumer)
                busy = self._batch(consumer, producer, messages)
                pauses.tick(idle=not busy)
                if self.broker_down_since is not None:
                    self._probe(consumer)
        finally:
            self.owned = frozenset()
            for closing in (consumer, restorer, ends):
                try:
                    closing.close()
                except (KafkaException, RuntimeError) as error:
                    log.warning("closing a Kafka client: %s", error)

    def _next_batch(self, consumer: Consumer) -> list:
        """The records there are, up to `max_batch`, as soon as there is one: `consume` alone
        waits out its whole timeout unless the batch fills (51 ms a batch at 100 records/s).
        A batch of only records that may wait (`Processor.may_wait`: this task's own outputs
        read back) waits that long for others, so that both share one transaction: a record
        that comes meanwhile does not wait behind a transaction of their own. Neither waits
        while periodic work is left over (a burst of due timers): each wait would be a pause of
        the burst (a drain of 100,000 timers went from 22.5 to 80.5 s with the wait alone)."""
        first = consumer.poll(0 if self._more_due else self.config.poll_timeout)
        if first is None:
            return []
        rebalances = self._rebalances  # `first` belongs to the assignment its poll left
        most = self.config.max_batch
        messages = [first, *consumer.consume(most - 1, timeout=0)] if most > 1 else [first]
        wait = 0.0 if self._more_due else self._patience(messages)
        if wait > 0:
            deadline = time.monotonic() + wait
            while len(messages) < most and (left := deadline - time.monotonic()) > 0:
                more = consumer.poll(left)
                if more is None:
                    break
                messages.append(more)
                if len(messages) < most:
                    messages += consumer.consume(most - len(messages), timeout=0)
                if self._patience(messages) == 0:
                    break
        if self._rebalances != rebalances:
            # Records handed over before a rebalance are of the assignment it ended: a revoked
            # partition's are another worker's now, and one assigned again starts over from its
            # committed offset. Nothing is processed; every partition they came from is read again
            # (from the beginning where nothing is committed yet: auto.offset.reset).
            self._rewind(consumer, {(m.topic(), m.partition()): OFFSET_BEGINNING for m in messages if m.error() is None})
            return []
        return messages

    def _patience(self, messages: list) -> float:
        """How long these records may wait for others: 0 unless every one may (a batch of
        school events stops at its first record)."""
        wait = None
        for message in messages:
            if message.error() is None:
                may_wait = self._may_wait.get(message.topic(), 0.0)
                if not may_wait:
                    return 0.0
                wait = may_wait if wait is None else min(wait, may_wait)
        return wait or 0.0

    def _rewind(self, consumer: Consumer, uncommitted: dict[tuple[str, int], int]) -> None:
        """Seek each of these partitions the task still owns back to its last commit (without
        one, to the offset given), so that its records are read again."""
        for (topic, partition), offset in uncommitted.items():
            if (topic, partition) in self.owned:
                back = self.committed.get((topic, partition), offset)
                try:
                    consumer.seek(TopicPartition(topic, partition, back))
                except KafkaException as seek_error:
                    raise Fatal(f"cannot rewind {topic}[{partition}]: {seek_error}") from seek_error

    def _until_done(self, call: Callable[[], None], give_up_after: float | None = None) -> None:
        """Retry a call the broker must answer until it does, the task stops, or (if given)
        `give_up_after` seconds have passed: then its last error is raised (to abort the batch)."""
        began = time.monotonic()
        while True:
            try:
                self._within_its_timeout(call)
                return
            except KafkaException as error:
                kafka_error = error.args[0]
                if kafka_error.fatal() or not (kafka_error.retriable() or kafka_error.code() == KafkaError._TIMED_OUT):
                    raise
                if give_up_after is not None and time.monotonic() - began > give_up_after:
                    log.warning("giving up on a Kafka call after %.0fs: %s", give_up_after, kafka_error.str())
                    raise
                if self._stopping.wait(0.5):
                    raise Fatal("stopping") from None

    def _within_its_timeout(self, call: Callable[[], None]) -> None:
        """Run a transactional call, and give the session up if it blocks well past its own
        timeout: librdkafka's `send_offsets_to_transaction` can block for good after the group
        coordinator's broker restarts (librdkafka issues 5456 and 5511, open in 2.16). A new
        session's producer, under the same transactional id, fences the stuck one."""
        future = self._calls.submit(call)
        try:
            future.result(timeout=3 * self.config.request_timeout)
        except concurrent.futures.TimeoutError:
            self._calls.shutdown(wait=False)
            self._calls = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-call")
            raise Fatal(f"a Kafka call blocked for over {3 * self.config.request_timeout:.0f}s") from None

    # ------------------------------------------------------------ rebalances

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition], restorer: Consumer,
                  ends: Consumer) -> None:
        self._rebalances += 1
        # Before any store is restored: a previous owner's transaction still open would otherwise
        # commit behind the restore (processors/stream/restore.py).
        config = self.config
        # A previous owner's open transaction ends at the latest when the broker aborts it: both
        # waits below (its offsets, then its changelog records) are bounded by that.
        transaction_ended = config.transaction_timeout + config.request_timeout
        committed = stable_offsets(consumer, partitions, config.request_timeout, transaction_ended,
                                   self._stopping.is_set)
        if committed is None:
            consumer.assign([])  # stopping: nothing is read that is not restored
            return
        wanted = sorted({(processor.name, tp.partition) for tp in partitions
                         if (processor := self._by_topic.get(tp.topic)) is not None and processor.name})
        self.restoring = frozenset(wanted)
        began, opening = time.monotonic(), 0.0
        try:
            for name, partition in wanted:
                processor = next(p for p in self.processors if p.name == name)
                opened = time.monotonic()
                store = self.store(name, partition)
                opening += time.monotonic() - opened
                store.discard()
                self.stats.restored += restore(store, processor.restored, restorer, config.changelog(name), ends,
                                               timeout=transaction_ended)
                self.restoring = self.restoring - {(name, partition)}
        finally:
            self.restoring = frozenset()
        if wanted:  # a restart's profile: RocksDB's opening (its log replayed) against the changelogs' tails
            log.info("opened %d store partition(s) in %.2fs, restored in %.2fs", len(wanted), opening,
                     time.monotonic() - began - opening)
        self.owned = self.owned | {(tp.topic, tp.partition) for tp in partitions}
        log.info("assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing")
        consumer.assign(partitions)
        self.committed = {**self.committed, **committed}

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._rebalances += 1
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.owned = self.owned - gone
        self.committed = {tp: offset for tp, offset in self.committed.items() if tp not in gone}
        self.positions = {tp: offset for tp, offset in self.positions.items() if tp not in gone}
        self.ends = {tp: offset for tp, offset in self.ends.items() if tp not in gone}

    # ------------------------------------------------------------ one batch

    def _batch(self, consumer: Consumer, producer: Producer, messages: list) -> bool:
        """Process and commit one batch; False when there was nothing to do."""
        began = time.monotonic()
        inputs: dict[tuple[Processor, int], list[Input]] = defaultdict(list)
        offsets: dict[tuple[str, int], int] = {}
        first: dict[tuple[str, int], int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    self._client_error(error)
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            kind, timestamp = message.timestamp()
            inputs[(self._by_topic[topic], partition)].append(Input(
                topic, partition, offset, message.key(), message.value(),
                timestamp if kind != 0 and timestamp >= 0 else None, tuple(message.headers() or ())))
            first.setdefault((topic, partition), offset)
            offsets[(topic, partition)] = offset + 1
        if offsets:
            self._broker_answered()
        collector = _Collector(producer, self._changelog_delivered)
        touched: set[tuple[str, int]] = set()
        # The group's metadata as this batch begins, the generation its records and its owned
        # partitions belong to. Taken later, a worker frozen mid-batch (a zombie) would send the
        # metadata librdkafka has since reset in the background on its session's timeout (no member,
        # no generation), which a broker takes for a group that only stores offsets, and commit
        # (tests/integration/test_transactional_fencing.py).
        membership = consumer.consumer_group_metadata(), consumer.memberid()
        try:
            for (processor, partition), items in inputs.items():
                store = self.store(processor.name, partition) if processor.name else None
                processor.process(partition, items, store, collector.emit)
                if store is not None:
                    touched.add((processor.name, partition))
            owned = self.owned
            budget = self.config.punctuate_budget
            more_due = False
            fed = {processor for processor, _ in inputs}
            self._turn += 1
            for processor in self.processors:
                if not processor.name:
                    continue
                # A batch that carries records for a processor keeps that processor's periodic work
                # short, as those records' outputs commit with it: during a burst of due timers a
                # live record waits for the batch in progress and a quarter of one, not for two.
                allowance = min(budget, max(1, budget // 4)) if processor in fed else budget
                partitions = sorted({p for topic, p in owned if topic in processor.topics})
                # Each batch starts at another partition, so a burst in one never starves the rest.
                start = self._turn % len(partitions) if partitions else 0
                for partition in partitions[start:] + partitions[:start]:
                    if allowance <= 0:
                        break
                    store = self.store(processor.name, partition)
                    done = processor.punctuate(partition, store, collector.emit, allowance)
                    allowance -= done
                    budget -= done
                    more_due = more_due or allowance <= 0
                    if store.dirty:
                        touched.add((processor.name, partition))
            self._more_due = more_due
            # Commit where the consumer stands, not just past the last record: behind a record of a
            # transactional topic sits its transaction's marker, which is never delivered, and an
            # offset short of it would show a lag of one that never goes.
            positions = self._read_positions(consumer)
            for tp, position in positions.items():
                if position > max(offsets.get(tp, -1), self.committed.get(tp, -1)):
                    offsets[tp] = position
            if not (offsets or collector.begun or touched):
                self.positions = positions
                return False
            for name, partition in touched:
                for key, value in self._stores[(name, partition)].changes().items():
                    collector.changelog(self.config.changelog(name), partition, key, value)
            collector.begin()
            # Every transaction carries offsets, the unchanged ones of the owned partitions too: the
            # group's coordinator checks them against the group's generation, which is what fences a
            # worker the group has moved on from (a zombie). A batch of due timers alone consumes
            # nothing, and without them would commit what the zombie decided.
            fencing = {tp: offset for tp, offset in self.committed.items() if tp in self.owned}
            fencing.update(offsets)
            if not fencing:
                # Nothing committed and nothing read yet (a group whose offsets were deleted):
                # wait for the first fetch rather than commit what nothing fences.
                raise KafkaException(KafkaError(KafkaError._STATE, "no consumer offset yet to fence the transaction by"))
            metadata, member = membership
            if not member:
                raise KafkaException(KafkaError(KafkaError._STATE, "not a member of the group when the batch began"))
            # A retriable error that lasts (the group rebalancing after a broker restart) is only
            # resolved by the consumer's next poll: abort and read the batch again from there.
            self._until_done(lambda: producer.send_offsets_to_transaction(
                [TopicPartition(topic, partition, offset) for (topic, partition), offset in fencing.items()],
                metadata, self.config.request_timeout), give_up_after=self.config.request_timeout)
            self._until_done(lambda: producer.commit_transaction(self.config.request_timeout),
                             give_up_after=2 * self.config.request_timeout)
        except KafkaException as error:
            self._abort(consumer, producer, collector, touched, first, error)
            return True
        except Fatal:
            raise
        except Exception:
            self._abort(consumer, producer, collector, touched, first, None)
            raise
        self._broker_answered()
        for name, partition in touched:
            delivered = self._changelog_offsets.pop((self.config.changelog(name), partition), None)
            # Past the commit's marker (one offset, right after this worker's last record: no one
            # else commits to a partition it owns), so a warm restore has nothing left to read.
            self._stores[(name, partition)].commit(delivered + 2 if delivered is not None else None)
        self.committed = {**self.committed, **offsets}
        self.positions = positions  # published once committed: `caught_up` must not run ahead of the store
        self.stats.commits += 1
        self._on_batch(len(messages), time.monotonic() - began)
        return True

    def _read_positions(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        """Where the consumer stands in each owned partition (every record before it was consumed),
        and, into `ends`, where each partition ended at the last fetch."""
        owned = self.owned
        if not owned:
            self.ends = {}
            return {}
        ends = {}
        for topic, partition in owned:
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except KafkaException:
                continue
            if high >= 0:
                ends[(topic, partition)] = high
        self.ends = ends
        try:
            found = consumer.position([TopicPartition(topic, partition) for topic, partition in owned])
        except KafkaException:
            return dict(self.positions)
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def caught_up(self, topic: str, partition: int) -> bool:
        """Every record of the partition present at the last fetch is processed and committed."""
        end, position = self.end_offset(topic, partition), self.positions.get((topic, partition))
        return end is not None and position is not None and position >= end

    def _changelog_delivered(self, error: KafkaError | None, message) -> None:
        if error is None:
            key = (message.topic(), message.partition())
            self._changelog_offsets[key] = max(self._changelog_offsets.get(key, -1), message.offset())

    def _abort(self, consumer: Consumer, producer: Producer, collector: "_Collector", touched: set[tuple[str, int]],
               first: dict[tuple[str, int], int], error: KafkaException | None) -> None:
        """Undo the batch: abort its transaction, drop its state, and read its records again."""
        for store in self._stores.values():
            store.discard()
        self._changelog_offsets.clear()
        # The batch read again waits for the consumer as before a burst: without the long poll an
        # abort that repeats until the first fetch (no offset yet to fence by) spins.
        self._more_due = False
        kafka_error = error.args[0] if error is not None else None
        if kafka_error is not None and (kafka_error.fatal() or kafka_error.code() in _FENCED):
            raise Fatal(kafka_error.str()) from error
        if collector.begun:
            try:
                self._until_done(lambda: producer.abort_transaction(self.config.request_timeout))
            except KafkaException as abort_error:
                raise Fatal(f"abort failed: {abort_error}") from abort_error
        self.stats.aborts += 1
        self._rewind(consumer, first)
        if kafka_error is not None:
            log.warning("batch aborted (%s); its records are processed again", kafka_error.str())


_FENCED = {
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}


class _Collector:
    """Sends a batch's records into its transaction, which it begins with the first one."""

    __slots__ = ("_producer", "_on_changelog", "begun")

    def __init__(self, producer: Producer, on_changelog):
        self._producer = producer
        self._on_changelog = on_changelog
        self.begun = False

    def begin(self) -> None:
        if not self.begun:
            self._producer.begin_transaction()
            self.begun = True

    def emit(self, output: Output) -> None:
        if not self.begun:
            self.begin()
        self._produce(output.topic, output.key, output.value, output.partition, output.headers, None)

    def changelog(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        self.begin()
        self._produce(topic, key, value, partition, None, self._on_changelog)

    def _produce(self, topic, key, value, partition, headers, on_delivery) -> None:
        producer = self._producer
        # Positional (topic, value, key, partition, on_delivery): ~0.3 us a record less than the
        # same options by keyword (bench/produce_calls.py); -1 is librdkafka's "the partitioner picks".
        where = -1 if partition is None else partition
        while True:
            try:
                if headers:
                    producer.produce(topic, value, key, where, on_delivery, headers=list(headers))
                elif on_delivery is not None:
                    producer.produce(topic, value, key, where, on_delivery)
                else:
                    producer.produce(topic, value, key, where)
                return
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain it
