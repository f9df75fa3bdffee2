"""What the learner processor's store holds per `school:user`, and how it is (de)serialised.

An entry is the engine's `LearnerState` plus two things the engine does not keep:
- the learner's pending timers (`PendingTimers`): id -> due time, scheduling
  sequence and the timer's record. The due-time index (`index_key`) derives
  from them and is rebuilt from the entries on restore, so the changelog
  carries one record per learner and never the index. The sequence is the
  learner's own counter, so timers of one learner due at the same instant fire
  in the order they were scheduled, as `simulate` fires them (docs/engine.md),
  across restarts and restores alike; a timer scheduled again under the same
  id for the same instant keeps its place.
- per input partition, the offset of the learner's last decided input and the
  newest Kafka timestamp among its decided inputs (`DecidedMarks`): an
  operator who reprocesses a partition from an old offset re-delivers inputs
  this learner decided long ago; deciding them again against today's state
  would undo later changes and could start, under its old run id, a run the
  learner finished long ago. An input at or before the mark, and no newer,
  was decided before, and decides nothing now. A newer timestamp at an offset
  the mark passed means the topic was made again: the input is decided.

The stored form is one line of state (`processors.learner_state_format`:
versioned JSON), then optional lines `#decided\t...` and `#timers\t...`. Both stay bytes until an input needs them. Lines of the
earlier form (outputs remembered per input, `topic/partition/offset\t...`) are
read and dropped: transactions made them redundant.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from engine.learner import LearnerState
from processors.learner_state_format import decode_state, encode_state

_MARKS = b"#decided\t"
_TIMERS = b"#timers\t"


class DecidedMarks:
    """Per input partition (`topic/partition`): the offset of the last input decided, and the
    latest timestamp (ms) of the inputs decided from it. Kept as read until it changes."""

    __slots__ = ("_raw", "_marks")

    def __init__(self, raw: bytes = b""):
        self._raw = raw
        self._marks: dict[str, tuple[int, int]] | None = None if raw else {}

    def _parsed(self) -> dict[str, tuple[int, int]]:
        if self._marks is None:
            self._marks = {}
            for item in self._raw.split(b";"):
                source, offset, timestamp = item.decode().rsplit("/", 2)
                self._marks[source] = (int(offset), int(timestamp))
        return self._marks

    def decided_before(self, position: str, timestamp_ms: int | None) -> bool:
        """Whether the input at `topic/partition/offset` was decided before: at or before the
        mark, and no newer than it. An input without a timestamp is never taken for one."""
        source, offset = position.rsplit("/", 1)
        return self.decided_before_at(source, int(offset), timestamp_ms)

    def decided_before_at(self, source: str, offset: int, timestamp_ms: int | None) -> bool:
        """`decided_before` of the input at `offset` of `source` (`topic/partition`): the processor
        asks at every input, so it names the input by its parts instead of a position to split."""
        mark = self._parsed().get(source)
        return mark is not None and timestamp_ms is not None and offset <= mark[0] and timestamp_ms <= mark[1]

    def decided(self, position: str, timestamp_ms: int | None) -> None:
        source, offset = position.rsplit("/", 1)
        self.decided_at(source, int(offset), timestamp_ms)

    def decided_at(self, source: str, offset: int, timestamp_ms: int | None) -> None:
        marks = self._parsed()
        latest = marks[source][1] if source in marks else -1
        marks[source] = (offset, max(latest, timestamp_ms if timestamp_ms is not None else -1))
        self._raw = b""

    def encoded(self) -> bytes:
        if not self._raw and self._marks:
            self._raw = ";".join(f"{source}/{offset}/{timestamp}" for source, (offset, timestamp) in self._marks.items()).encode()
        return self._raw


@dataclass(frozen=True, slots=True)
class PendingTimer:
    due_ms: int
    sequence: int
    record: bytes  # the timer's Avro record, as the delays topic carries it


def index_key(due_ms: int, sequence: int, learner: bytes, timer_id: str) -> bytes:
    """Due time, then the learner's scheduling sequence: byte order is firing order."""
    return b"%015d|%012d|%s|%s" % (due_ms, sequence, learner, timer_id.encode())


def index_value(learner: bytes, timer_id: str) -> bytes:
    return learner + b"\n" + timer_id.encode()


def index_target(value: bytes) -> tuple[bytes, str]:
    learner, _, timer_id = value.partition(b"\n")
    return learner, timer_id.decode()


class PendingTimers:
    """A learner's timers not yet fired or cancelled, with the counter that orders them."""

    __slots__ = ("_raw", "_timers", "_next")

    def __init__(self, raw: bytes = b""):
        self._raw = raw
        self._timers: dict[str, PendingTimer] | None = None if raw else {}
        self._next = 0

    def _parsed(self) -> dict[str, PendingTimer]:
        if self._timers is None:
            counter, _, items = self._raw.partition(b"\t")
            self._next = int(counter)
            self._timers = {}
            for item in items.split(b";") if items else ():
                timer_id, due, sequence, record = item.split(b",")
                self._timers[base64.b64decode(timer_id).decode()] = PendingTimer(
                    int(due), int(sequence), base64.b64decode(record))
        return self._timers

    def items(self) -> list[tuple[str, PendingTimer]]:
        return list(self._parsed().items())

    def get(self, timer_id: str) -> PendingTimer | None:
        return self._parsed().get(timer_id)

    def schedule(self, timer_id: str, due_ms: int, record: bytes) -> tuple[PendingTimer | None, PendingTimer]:
        """Add or replace a timer; returns (the one it replaced, the new one)."""
        timers = self._parsed()
        previous = timers.get(timer_id)
        if previous is not None and previous.due_ms == due_ms:
            sequence = previous.sequence
        else:
            sequence = self._next
            self._next += 1
        timers[timer_id] = PendingTimer(due_ms, sequence, record)
        self._raw = b""
        return previous, timers[timer_id]

    def remove(self, timer_id: str) -> PendingTimer | None:
        removed = self._parsed().pop(timer_id, None)
        if removed is not None:
            self._raw = b""
        return removed

    def encoded(self) -> bytes:
        if self._raw or not self._timers and not self._next:
            return self._raw
        items = b";".join(
            b"%s,%d,%d,%s" % (base64.b64encode(timer_id.encode()), timer.due_ms, timer.sequence,
                              base64.b64encode(timer.record))
            for timer_id, timer in self._timers.items()
        )
        self._raw = b"%d\t%s" % (self._next, items)
        return self._raw


@dataclass(slots=True)
class LearnerEntry:
    state: LearnerState
    marks: DecidedMarks = field(default_factory=DecidedMarks)
    timers: PendingTimers = field(default_factory=PendingTimers)
    stored_state: tuple[LearnerState, bytes] | None = None  # the state as read, and its stored line


def load(raw: bytes | None, school: str, user: str) -> LearnerEntry:
    if raw is None:
        return LearnerEntry(LearnerState.new(school, user))
    state_line, *lines = raw.split(b"\n")
    state = decode_state(state_line)
    marks = timers = b""
    for line in lines:
        if line.startswith(_MARKS):
            marks = line[len(_MARKS):]
        elif line.startswith(_TIMERS):
            timers = line[len(_TIMERS):]
    return LearnerEntry(state, DecidedMarks(marks), PendingTimers(timers), (state, state_line))


def dump(entry: LearnerEntry) -> bytes:
    if entry.stored_state is not None and entry.stored_state[0] is entry.state:
        state_line = entry.stored_state[1]
    else:
        state_line = encode_state(entry.state)
        entry.stored_state = (entry.state, state_line)
    lines = [state_line]
    marks = entry.marks.encoded()
    if marks:
        lines.append(_MARKS + marks)
    timers = entry.timers.encoded()
    if timers:
        lines.append(_TIMERS + timers)
    return b"\n".join(lines)


def stored_timers(raw: bytes | None) -> list[tuple[str, PendingTimer]]:
    """The pending timers of a stored entry, without decoding its state (for restores)."""
    if raw is None:
        return []
    for line in raw.split(b"\n")[1:]:
        if line.startswith(_TIMERS):
            return PendingTimers(line[len(_TIMERS):]).items()
    return []
