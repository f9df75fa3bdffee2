"""What the broker does with a transaction's consumer offsets sent with a group's metadata, which is
what the stream task's fencing of a zombie stands on (processors/stream/task.py, KIP-447).

- Metadata of a generation the group has moved on from: the offsets are refused, the transaction
  aborts, and a `read_committed` reader sees none of its records.
- Metadata with no member and no generation (what a consumer holds before it joins, or once
  librdkafka has reset it after the session timed out): the broker takes the offsets even while
  another member owns the partition. That is why a batch sends the metadata taken as it began and
  commits nothing when the worker was not a member then.

Plain confluent-kafka clients on the real broker; no worker.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.harness import isolated_settings

pytestmark = pytest.mark.integration

DEADLINE = 30.0


@pytest.fixture
def kafka():
    settings = isolated_settings(1)
    bootstrap = settings.bootstrap_servers
    prefix = f"fencing-{uuid.uuid4().hex[:8]}"
    names = {"input": f"{prefix}.input", "output": f"{prefix}.output", "group": f"{prefix}.group"}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(names["input"], 1, 1), NewTopic(names["output"], 1, 1)]).values():
        future.result(DEADLINE)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(names["input"], key=b"k", value=b"school event")
    producer.flush(DEADLINE)
    yield bootstrap, names
    for future in admin.delete_topics([names["input"], names["output"]]).values():
        future.result(DEADLINE)


def member(bootstrap: str, group: str, topic: str) -> Consumer:
    """A consumer that has joined `group` and been given `topic`'s partition."""
    assigned: list[TopicPartition] = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topic], on_assign=lambda _consumer, partitions: assigned.extend(partitions))
    until = time.monotonic() + DEADLINE
    while not assigned:
        assert time.monotonic() < until, "never assigned"
        consumer.poll(0.1)
    return consumer


def commit_output_with(bootstrap: str, names: dict, metadata) -> None:
    """One transaction: an output record and the input's offset 1, committed for the group by `metadata`."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{names['group']}-{uuid.uuid4().hex[:6]}"})
    producer.init_transactions(DEADLINE)
    producer.begin_transaction()
    producer.produce(names["output"], key=b"k", value=b"action")
    try:
        producer.send_offsets_to_transaction([TopicPartition(names["input"], 0, 1)], metadata, DEADLINE)
        producer.commit_transaction(DEADLINE)
    except KafkaException:
        producer.abort_transaction(DEADLINE)
        raise


def committed_outputs(bootstrap: str, names: dict) -> list[bytes]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{names['group']}-reader",
                       "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    reader.assign([TopicPartition(names["output"], 0, 0)])
    try:
        # Its end, as a read_committed reader sees it: past every marker, aborted records included.
        _, end = reader.get_watermark_offsets(TopicPartition(names["output"], 0), DEADLINE)
        values, until = [], time.monotonic() + DEADLINE
        # Before its first fetch the reader has no position (a negative offset): from 0. With
        # nothing ever appended (the refused transaction's record purged before it was sent, as
        # happens when the refusal comes first) the end is 0 and there is nothing to read.
        while max(0, reader.position([TopicPartition(names["output"], 0)])[0].offset) < end:
            assert time.monotonic() < until, "the output's end was never reached"
            message = reader.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value())
        return values
    finally:
        reader.close()


def group_offset(bootstrap: str, names: dict, owner: Consumer) -> int:
    return owner.committed([TopicPartition(names["input"], 0)], DEADLINE)[0].offset


def test_offsets_sent_with_a_generation_the_group_moved_on_from_are_refused(kafka):
    bootstrap, names = kafka
    zombie = member(bootstrap, names["group"], names["input"])
    stale = zombie.consumer_group_metadata()
    zombie.close()  # the group moves on: its partition goes to the next member, in a new generation
    successor = member(bootstrap, names["group"], names["input"])
    try:
        with pytest.raises(KafkaException) as refused:
            commit_output_with(bootstrap, names, stale)
        assert refused.value.args[0].code() in (KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION), refused.value
        assert committed_outputs(bootstrap, names) == []
        assert group_offset(bootstrap, names, successor) < 0, "the zombie moved the group's offset"
    finally:
        successor.close()


def test_offsets_sent_with_no_member_are_taken_while_another_member_owns_the_partition(kafka):
    bootstrap, names = kafka
    owner = member(bootstrap, names["group"], names["input"])
    never_joined = Consumer({"bootstrap.servers": bootstrap, "group.id": names["group"]})
    try:
        commit_output_with(bootstrap, names, never_joined.consumer_group_metadata())
        assert committed_outputs(bootstrap, names) == [b"action"]
        assert group_offset(bootstrap, names, owner) == 1
    finally:
        never_joined.close()
        owner.close()
