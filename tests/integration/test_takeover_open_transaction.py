"""Taking a partition over while its previous owner's transaction is still open, on the real broker.

A worker that froze (a zombie) can leave a transaction open that nothing fences any more: its
changelog records are written, and its offsets may already be with the group's coordinator.
The transaction ends when the zombie wakes and commits it, or when the broker aborts it after
its timeout. Given such a transaction on a partition's changelog (with or without its offsets),
when the stream task is assigned the partition, then it does not take the partition over while
the transaction is open, and once it ends, the store holds what the transaction committed (or
not, if the broker aborted it) and the task reads on from the transaction's offsets. A takeover
that restored to the changelog's last stable offset, or went on without stable offsets, would
decide from a state the changelog no longer has (the failover test's zombie: one batch of ten
timers fired twice).
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from processors.stream.task import StreamTask, TaskConfig
from tests.integration.harness import isolated_settings

pytestmark = pytest.mark.integration

DEADLINE = 30.0
REQUEST_TIMEOUT = 2.0  # how long the task's offset fetch waits before it asks again
ZOMBIE_STATE = b"the previous owner's last state"


class Remembering:
    """A processor with a store that remembers what its store was restored with."""

    name = "remembering"
    may_wait = 0.0

    def __init__(self, topic: str):
        self.topics = (topic,)
        self.restored_values: list[bytes | None] = []
        self.seen: list[bytes] = []

    def process(self, partition, inputs, store, emit) -> None:
        self.seen.extend(item.value for item in inputs)

    def punctuate(self, partition, store, emit, limit=None) -> int:
        return 0

    def restored(self, store, key, value) -> None:
        self.restored_values.append(value)
        if value is None:
            store.delete(key)
        else:
            store.put(key, value)


def wait_for(condition, what: str, deadline: float = DEADLINE) -> None:
    until = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < until, what
        time.sleep(0.05)


@pytest.mark.parametrize("offsets", [True, False], ids=["with-its-offsets", "changelog-only"])
@pytest.mark.parametrize("ending", ["committed", "aborted-by-the-broker"])
def test_a_takeover_waits_until_the_previous_owners_transaction_ends(tmp_path, offsets, ending):
    bootstrap = isolated_settings(1).bootstrap_servers
    prefix = f"takeover-{uuid.uuid4().hex[:8]}"
    config = TaskConfig(bootstrap, f"{prefix}.group", f"{prefix}.task", tmp_path / "data", prefix,
                        request_timeout=REQUEST_TIMEOUT)
    source, changelog = f"{prefix}.source", config.changelog(Remembering.name)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1) for topic in (source, changelog)]).values():
        future.result(DEADLINE)
    plain = Producer({"bootstrap.servers": bootstrap})
    for n in range(3):
        plain.produce(source, value=b"event %d" % n, partition=0)
    plain.flush(DEADLINE)

    # Given the partition's previous owner, a member of the group, with a transaction left open
    member = Consumer({"bootstrap.servers": bootstrap, "group.id": config.group_id,
                       "enable.auto.commit": False, "isolation.level": "read_committed"})
    member.subscribe([source])
    wait_for(lambda: member.poll(0.1) is not None or bool(member.assignment()), "the previous owner was never assigned")
    zombie = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{prefix}.zombie",
                       # the broker aborts it on its own only in the second case
                       "transaction.timeout.ms": 3000 if ending == "aborted-by-the-broker" else 600_000})
    zombie.init_transactions(DEADLINE)
    zombie.begin_transaction()
    zombie.produce(changelog, key=b"learner", value=ZOMBIE_STATE, partition=0)
    zombie.flush(DEADLINE)
    if offsets:
        zombie.send_offsets_to_transaction([TopicPartition(source, 0, 3)], member.consumer_group_metadata(), DEADLINE)
    member.close()  # its session over: the group hands the partition on

    # When the stream task is assigned the partition
    processor = Remembering(source)
    stream = StreamTask(config, (processor,))
    stream.start()
    try:
        if ending == "committed":
            # Then it does not take the partition over while the transaction is open: the group's
            # coordinator gives it the partition within a second; without the wait it would hold it
            # one offset fetch later (REQUEST_TIMEOUT) at most.
            wait_for(lambda: _assigned_in_group(admin, config.group_id), "the group never assigned the partition")
            waited_until = time.monotonic() + 3 * REQUEST_TIMEOUT
            while time.monotonic() < waited_until:
                assert (source, 0) not in stream.owned, "taken over while the previous owner's transaction was open"
                time.sleep(0.1)
            zombie.commit_transaction(DEADLINE)
        wait_for(lambda: (source, 0) in stream.owned, "the task never took the partition over", 2 * DEADLINE)

        # Then its store holds what the transaction committed, and it reads on from its offsets
        plain.produce(source, value=b"event 3", partition=0)
        plain.flush(DEADLINE)
        wait_for(lambda: b"event 3" in processor.seen, "the task never read the next event")
        took_offsets = offsets and ending == "committed"
        assert processor.seen == [b"event %d" % n for n in range(3 if took_offsets else 0, 4)]
        if ending == "committed":
            assert processor.restored_values == [ZOMBIE_STATE]
            assert stream.store(Remembering.name, 0).get(b"learner") == ZOMBIE_STATE
        else:
            assert processor.restored_values == []
            with pytest.raises(KafkaException):  # and the previous owner, back, is fenced
                zombie.commit_transaction(DEADLINE)
    finally:
        stream.stop()
        for future in admin.delete_topics([source, changelog]).values():
            future.result(DEADLINE)


def _assigned_in_group(admin: AdminClient, group: str) -> bool:
    (described,) = admin.describe_consumer_groups([group]).values()
    members = described.result(DEADLINE).members
    return any(member.assignment.topic_partitions for member in members)
