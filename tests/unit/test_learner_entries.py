"""The learner processor's stored entry (processors.learner_entries): state, decided marks, pending timers.

Given a learner's entry as the learner processor writes it, when it is read
back, then the state is equal, a state the input did not change is written
back byte for byte, and an entry of the earlier form (outputs remembered per
input) is still read. Its decided marks survive the round trip and take an
input for decided before exactly when it sits at or before the mark of its
partition and is no newer than every input decided there. Its pending timers
survive too, each with the sequence that orders timers due at one instant
(the order they were scheduled; a timer scheduled again for the same instant
keeps its place), and a restore reads them without decoding the state.
"""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from engine.learner import LearnerState
from engine.values import replace
from processors.learner_entries import DecidedMarks, LearnerEntry, dump, index_key, load, stored_timers

INPUT_IDS = st.builds(
    lambda topic, partition, offset: f"{topic}/{partition}/{offset}",
    st.from_regex(r"[a-zA-Z0-9._-]{1,40}", fullmatch=True),
    st.integers(0, 63),
    st.integers(0, 2**40),
)


def state(**fields) -> LearnerState:
    return replace(LearnerState.new("school-1", "learner-7"), **fields)


def test_state_values_that_need_escaping_or_are_not_finite_survive():
    learner = state(
        fields={"score": float("nan"), "limit": float("inf"), "note": "line one\nline two\ttab", "name": "Zoë"},
        last_activity_at=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc),
    )
    read = load(dump(LearnerEntry(learner)), "school-1", "learner-7")

    assert read.state.fields["note"] == "line one\nline two\ttab" and read.state.fields["name"] == "Zoë"
    assert read.state.fields["limit"] == float("inf") and read.state.fields["score"] != read.state.fields["score"]
    assert read.state.last_activity_at == learner.last_activity_at


def test_an_unchanged_state_is_written_back_as_it_was_read():
    stored = dump(LearnerEntry(state(tags=frozenset({"x", "y", "z"}))))
    entry = load(stored, "school-1", "learner-7")
    entry.marks.decided("t/0/1", 5)

    assert dump(entry).split(b"\n")[0] == stored.split(b"\n")[0]

    entry.state = replace(entry.state, email="a@example.org")
    assert load(dump(entry), "school-1", "learner-7").state.email == "a@example.org"


def test_a_learner_never_seen_starts_empty():
    entry = load(None, "school-1", "learner-7")

    assert entry.state == LearnerState.new("school-1", "learner-7")
    assert entry.timers.items() == [] and not entry.marks.decided_before("t/0/0", 0)


def test_an_entry_of_the_earlier_form_is_read_and_its_remembered_outputs_dropped():
    learner = state(tags=frozenset({"vip"}))
    raw = b"\n".join([dump(LearnerEntry(learner)), b"#decided\tt/1/5/50", b"t/1/5\tactions=ZW1haWw="])

    entry = load(raw, "school-1", "learner-7")

    assert entry.state == learner and entry.marks.decided_before("t/1/5", 50)
    assert b"ZW1haWw" not in dump(entry)


def round_trip(entry: LearnerEntry) -> LearnerEntry:
    return load(dump(entry), "school-1", "learner-7")


def test_an_input_at_or_before_the_mark_and_no_newer_was_decided_before():
    entry = LearnerEntry(state())
    for offset, timestamp in [(3, 1_000), (9, 900), (40, 1_200)]:  # producers' clocks need not agree
        entry.marks.decided(f"t.school-events/2/{offset}", timestamp)

    marks = round_trip(entry).marks

    assert marks.decided_before("t.school-events/2/3", 1_000)
    assert marks.decided_before("t.school-events/2/9", 900)
    assert marks.decided_before("t.school-events/2/40", 1_200)
    assert marks.decided_before("t.school-events/2/12", 1_100), "a record of another learner's in between"
    assert not marks.decided_before("t.school-events/2/41", 1_200), "past the mark: new"
    assert not marks.decided_before("t.school-events/2/5", 1_201), "newer than all: the topic was created again"
    assert not marks.decided_before("t.school-events/2/5", None), "no timestamp: never taken for decided"
    assert not marks.decided_before("t.school-events/3/5", 1_000), "another partition"
    assert not marks.decided_before("t.control/2/5", 1_000), "another topic"


def test_the_mark_follows_the_last_decided_input_of_a_topic_created_again():
    entry = LearnerEntry(state())
    entry.marks.decided("t/0/500", 1_000)
    assert not entry.marks.decided_before("t/0/0", 5_000)  # the first record of the new topic

    entry.marks.decided("t/0/0", 5_000)

    marks = round_trip(entry).marks
    assert not marks.decided_before("t/0/1", 5_000), "the next record of the new topic, in the same millisecond"
    assert marks.decided_before("t/0/0", 5_000)


def test_an_entry_without_marks_takes_no_input_for_decided():
    entry = load(dump(LearnerEntry(state())), "school-1", "learner-7")

    assert not entry.marks.decided_before("t/0/0", 0)
    assert DecidedMarks().encoded() == b""


@given(st.lists(st.tuples(INPUT_IDS, st.integers(0, 2**45)), max_size=20))
def test_marks_read_back_give_the_same_answers(decided):
    entry = LearnerEntry(state())
    for input_id, timestamp in decided:
        entry.marks.decided(input_id, timestamp)

    read = round_trip(entry).marks

    for input_id, timestamp in decided:
        for probe in (timestamp - 1, timestamp, timestamp + 1):
            assert read.decided_before(input_id, probe) == entry.marks.decided_before(input_id, probe)




def test_pending_timers_and_their_order_survive_the_round_trip():
    entry = LearnerEntry(state())
    entry.timers.schedule("wait:r2:w", 5_000, b"second")
    entry.timers.schedule("wait:r1:w", 5_000, b"third")
    entry.timers.schedule("inactive:7", 9_000, b"record,with;separators")

    read = round_trip(entry)

    assert read.timers.items() == entry.timers.items()
    assert [(t, p.sequence) for t, p in read.timers.items()] == [("wait:r2:w", 0), ("wait:r1:w", 1), ("inactive:7", 2)]
    assert stored_timers(dump(entry)) == entry.timers.items()


def test_a_timer_scheduled_again_keeps_its_place_for_the_same_instant_and_goes_last_for_another():
    entry = LearnerEntry(state())
    entry.timers.schedule("a", 5_000, b"a")
    entry.timers.schedule("b", 5_000, b"b")

    replaced, same = entry.timers.schedule("a", 5_000, b"a again")
    assert replaced.sequence == same.sequence == 0
    _, moved = round_trip(entry).timers.schedule("a", 6_000, b"a later")
    assert moved.sequence == 2, "the counter survives the round trip"


def test_a_removed_timer_is_gone_and_the_counter_never_goes_back():
    entry = LearnerEntry(state())
    entry.timers.schedule("a", 5_000, b"a")
    assert entry.timers.remove("a").record == b"a" and entry.timers.remove("a") is None
    read = round_trip(entry)
    assert read.timers.items() == []
    assert read.timers.schedule("b", 1, b"b")[1].sequence == 1


@given(st.lists(st.tuples(st.integers(0, 10**13), st.integers(0, 10**6), st.sampled_from(["x", "y|z"])), min_size=2, max_size=8))
def test_index_keys_sort_by_due_time_then_sequence(timers):
    keys = [(index_key(due, sequence, b"s:u", timer_id), (due, sequence)) for due, sequence, timer_id in timers]
    assert [order for _, order in sorted(keys)] == sorted(order for _, order in keys)
