"""An agent's record of where it is in each input partition (processors.input_positions).

Given a record kept in a table, when messages are handled, skipped or
delivered again, then: the record moves only once the broker acknowledged
every output and every changelog record of the input's table writes, in
offset order, and never backwards; the stream writes it at
most every RECORD_EVERY_SECONDS per partition; a message past it makes the
skipped ones read first, one at or before it reads nothing. No broker: the
table is a stand-in, the read is replaced and the clock is the test's.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from processors.config import Settings
from processors.input_positions import RECORD_EVERY_SECONDS, InputPositions, ReadAgain

TOPIC = "t.school-events"


class Table(dict):
    """A table seen from inside stream iteration of partition 0 (get/set hit that partition)."""

    def __init__(self):
        super().__init__()
        self.changelog: list[tuple[int, bytes, bytes]] = []
        self.pending_changelog: list = []  # changelog sends of the agent's writes, not acknowledged yet
        self.data = SimpleNamespace(_dbs={0: self}, _db_for_partition=lambda partition: self)

    def put(self, key, value):
        self[key] = value

    def send_changelog(self, partition, key, value):
        self.changelog.append((partition, key, value))

    def take_changelog_sends(self):
        sends, self.pending_changelog = self.pending_changelog, []
        return sends


def message(offset: int, partition: int = 0, topic: str = TOPIC):
    return SimpleNamespace(topic=topic, partition=partition, offset=offset)


LOOP = asyncio.new_event_loop()


def sent(done: bool = True) -> asyncio.Future:
    """A send to the broker, acknowledged (done) or not yet."""
    future = LOOP.create_future()
    if done:
        future.set_result(None)
    return future


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self) -> None:
        """Just past the interval (exactly it may round to a hair short)."""
        self.now += RECORD_EVERY_SECONDS * 1.001


def positions(clock: Clock | None = None) -> tuple[InputPositions, Table]:
    table = Table()
    return InputPositions(table, Settings(), (TOPIC,), monotonic=clock or Clock()), table


def test_the_record_moves_only_once_every_output_is_acknowledged_and_in_offset_order():
    clock = Clock()
    record, table = positions(clock)
    slow = sent(done=False)

    record.handled(message(0), [slow])
    record.handled(message(1), [sent()])
    clock.advance()
    record.handled(message(2), [sent(done=False)])
    assert record.recorded(TOPIC, 0) is None, "offset 0's output is not acknowledged yet"
    assert record.progress(TOPIC, 0) == 3, "but all three were handled"

    slow.set_result(None)
    clock.advance()
    record.handled(message(3), [])
    assert record.recorded(TOPIC, 0) == 2, "offset 2's output is not acknowledged yet"


def test_the_record_waits_for_the_changelog_records_of_the_inputs_table_writes_too():
    clock = Clock()
    record, table = positions(clock)
    state_written = sent(done=False)

    table.pending_changelog = [state_written]  # the input's state, written to the table
    record.handled(message(0), [sent()])  # its outputs are all acknowledged
    assert record.recorded(TOPIC, 0) is None, "the state's changelog record may still be lost"

    state_written.set_result(None)
    clock.advance()
    record.handled(message(1), [])
    assert record.recorded(TOPIC, 0) == 2


def test_the_stream_records_a_partition_at_most_every_interval():
    clock = Clock()
    record, table = positions(clock)

    for offset in range(10):
        record.handled(message(offset), [sent()])
    assert record.recorded(TOPIC, 0) == 1, "the first input is recorded, the others wait"
    record.handled(message(10, partition=1), [sent()])
    assert table.get(b"\x00next-offset|t.school-events/1") == b"11", "each partition on its own"

    clock.advance()
    record.handled(message(10), [sent()])
    assert record.recorded(TOPIC, 0) == 11


def test_the_watchdog_records_a_quiet_partitions_last_input_in_store_and_changelog():
    record, table = positions()
    last = sent(done=False)
    record.handled(message(4), [sent()])
    record.handled(message(5), [last])  # the partition's last input, acknowledged later
    assert record.recorded(TOPIC, 0) == 5

    last.set_result(None)
    record.confirm_held({0})

    assert record.recorded(TOPIC, 0) == 6
    assert table.changelog == [(0, b"\x00next-offset|t.school-events/0", b"6")]
    record.confirm_held({1})  # a partition not held here is never written
    assert len(table.changelog) == 1


def test_an_input_with_nothing_to_wait_for_is_recorded_at_once_and_never_goes_backwards():
    clock = Clock()
    record, _ = positions(clock)
    record.handled(message(6), [])
    assert record.recorded(TOPIC, 0) == 7

    clock.advance()
    record.handled(message(3), [])  # a re-delivery is processed again, the record stays
    assert record.recorded(TOPIC, 0) == 7 and record.expected(message(8)) == 7


def test_a_message_past_the_record_has_the_skipped_ones_read_first_and_others_read_nothing():
    record, _ = positions()
    record.handled(message(2), [])
    reads = []

    async def read(topic, partition, start, stop):
        reads.append((topic, partition, start, stop))
        return [ReadAgain(topic, partition, offset, b"k", b"v", ()) for offset in range(start, stop)]

    record._read = read
    assert asyncio.run(record.ahead_of(message(3))) == [], "the next one: nothing skipped"
    assert asyncio.run(record.ahead_of(message(1))) == [], "a re-delivery: nothing skipped"
    missed = asyncio.run(record.ahead_of(message(6)))

    assert [m.offset for m in missed] == [3, 4, 5] and reads == [(TOPIC, 0, 3, 6)]
    assert missed[0].message is missed[0], "shaped like a Faust event"


def test_the_record_is_read_only_when_a_message_is_past_what_this_process_handled():
    record, table = positions()
    record.handled(message(0), [sent()])
    reads = []
    table_get = table.get
    table.get = lambda key, default=None: reads.append(key) or table_get(key, default)

    assert asyncio.run(record.ahead_of(message(1))) == [] and reads == [], "the next message"
    assert asyncio.run(record.ahead_of(message(0))) == [] and reads == [], "a re-delivery"

    table[b"\x00next-offset|t.school-events/0"] = b"9"  # recorded by a worker that held the partition meanwhile
    assert asyncio.run(record.ahead_of(message(9))) == [] and len(reads) == 1, "past it: the record says nothing was skipped"


def test_process_handles_the_skipped_messages_then_the_delivered_one_and_records_each():
    record, _ = positions()
    record.handled(message(2), [])

    async def read(topic, partition, start, stop):
        return [ReadAgain(topic, partition, offset, b"k", b"v", ()) for offset in range(start, stop)]

    record._read = read
    handled = []

    async def handle(item):
        handled.append(item.message.offset)
        return []

    asyncio.run(record.process(SimpleNamespace(message=message(6)), handle))  # a Faust event

    assert handled == [3, 4, 5, 6]
    assert record.expected(message(7)) == 7, "each recorded as handled"
