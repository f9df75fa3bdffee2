"""How the stream task cuts its input into batches (transactions), on the real broker.

A batch of only records that may wait (`Processor.may_wait`: the task's own outputs read
back) waits for another record to share its transaction, and no longer than that record
takes to come, unless periodic work is left over (a burst of due timers); a batch of
records that may not wait is committed at once.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from processors.stream.task import StreamTask, TaskConfig
from tests.integration.harness import isolated_settings

pytestmark = pytest.mark.integration

DEADLINE = 30.0
PATIENCE = 20.0  # far longer than the test: a batch that waited it out would fail the test


class Recording:
    """A processor without a store that remembers which records came in which call."""

    name = ""

    def __init__(self, topic: str, may_wait: float):
        self.topics = (topic,)
        self.may_wait = may_wait
        self.seen: list[list[bytes]] = []

    def process(self, partition, inputs, store, emit) -> None:
        self.seen.append([item.value for item in inputs])

    def punctuate(self, partition, store, emit, limit=None) -> int:
        return 0

    def restored(self, store, key, value) -> None:
        pass


class NeverDone(Recording):
    """A processor with a store whose periodic work is never done: each batch it does all it
    may (a burst of due timers larger than any batch's bound)."""

    name = "never-done"

    def punctuate(self, partition, store, emit, limit=None) -> int:
        return limit or 1


@pytest.fixture
def task(tmp_path, request):
    left_over = getattr(request, "param", False)  # True: with a processor whose periodic work is never done
    bootstrap = isolated_settings(1).bootstrap_servers
    prefix = f"batches-{uuid.uuid4().hex[:8]}"
    live, read_back, due = f"{prefix}.live", f"{prefix}.read-back", f"{prefix}.due"
    config = TaskConfig(bootstrap, f"{prefix}.group", f"{prefix}.task", tmp_path / "data", prefix)
    topics = [live, read_back] + ([due, config.changelog(NeverDone.name)] if left_over else [])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1) for topic in topics]).values():
        future.result(DEADLINE)
    batches: list[int] = []
    committed = threading.Event()

    def on_batch(records: int, seconds: float) -> None:
        if records:  # a batch of offsets alone (the first positions after assignment) is no batch of records
            batches.append(records)
            committed.set()

    processors = (Recording(live, 0.0), Recording(read_back, PATIENCE))
    stream = StreamTask(config, processors + ((NeverDone(due, 0.0),) if left_over else ()), on_batch=on_batch)
    stream.start()
    producer = Producer({"bootstrap.servers": bootstrap})

    def send(topic: str, value: bytes) -> None:
        producer.produce(topic, value=value, partition=0)
        producer.flush(DEADLINE)

    def next_batch() -> int:
        assert committed.wait(DEADLINE), "no batch committed"
        committed.clear()
        return batches[-1]

    until = time.monotonic() + DEADLINE
    while {(topic, 0) for topic in topics[:3]} - stream.owned:  # assigned: what is sent now is read
        assert time.monotonic() < until, "the task was never assigned its partitions"
        time.sleep(0.05)
    yield send, next_batch, processors, live, read_back
    stream.stop()
    for future in admin.delete_topics(topics).values():
        future.result(DEADLINE)


def test_a_record_that_may_not_wait_is_committed_at_once(task):
    send, next_batch, (live_processor, _), live, _ = task
    send(live, b"school event")
    assert next_batch() == 1
    assert live_processor.seen == [[b"school event"]]


def test_records_read_back_wait_for_the_next_record_and_share_its_transaction(task):
    send, next_batch, (live_processor, read_back_processor), live, read_back = task
    send(read_back, b"run start")
    # No event says the task holds the run start; a second is far more than its fetch takes.
    time.sleep(1.0)
    sent = time.monotonic()
    send(live, b"next school event")
    assert next_batch() == 2, "the run start was committed alone, or with the next event in two batches"
    assert time.monotonic() - sent < PATIENCE / 2, "the batch waited out its patience, not for the next record"
    assert read_back_processor.seen == [[b"run start"]] and live_processor.seen == [[b"next school event"]]


@pytest.mark.parametrize("task", [True], indirect=True)
def test_records_read_back_do_not_wait_while_periodic_work_is_left_over(task):
    send, next_batch, (_, read_back_processor), _, read_back = task
    sent = time.monotonic()
    send(read_back, b"run end of a fired timer")
    # then its batch is committed at once, not after its patience: each wait would pause the burst
    assert next_batch() == 1
    assert time.monotonic() - sent < PATIENCE / 2, "the batch waited for company with due work left over"
    assert read_back_processor.seen == [[b"run end of a fired timer"]]
