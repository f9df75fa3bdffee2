"""The learners table's entry (processors.learner_store): state plus the outputs of the last inputs.

Given a learner's entry as the learner processor writes it, when it is read
back, then the state is equal, each remembered input gives back exactly its
outputs (bytes of any kind, none, several), an input never seen gives None,
only the last RECENT_INPUTS_KEPT inputs are kept, a state the input did not
change is written back byte for byte, and an entry in the earlier JSON
envelope is still read. Its decided marks survive the round trip and take
an input for decided before exactly when it sits at or before the mark of
its partition and is no newer than every input decided there.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from engine.learner import LearnerState
from processors import learner_store
from processors.learner_store import RECENT_INPUTS_KEPT, DecidedMarks, LearnerEntry, dump, load

AUDIENCES = st.sampled_from(["actions", "delays", "run_status", "dead_letter"])
OUTPUTS = st.lists(st.tuples(AUDIENCES, st.binary(max_size=300)), max_size=5)
INPUT_IDS = st.builds(
    lambda topic, partition, offset: f"{topic}/{partition}/{offset}",
    st.from_regex(r"[a-zA-Z0-9._-]{1,40}", fullmatch=True),
    st.integers(0, 63),
    st.integers(0, 2**40),
)


def state(**fields) -> LearnerState:
    return LearnerState.new("school-1", "learner-7").model_copy(update=fields)


@given(st.dictionaries(INPUT_IDS, OUTPUTS, max_size=RECENT_INPUTS_KEPT))
def test_every_remembered_input_gives_back_exactly_its_outputs(remembered):
    entry = LearnerEntry(state(tags=frozenset({"a", "b"})))
    for input_id, outputs in remembered.items():
        entry.remember(input_id, outputs)

    read = load(dump(entry), "school-1", "learner-7")

    assert read.state == entry.state
    for input_id, outputs in remembered.items():
        assert read.outputs_of(input_id) == outputs
    assert read.outputs_of("never/0/1") is None


def test_an_offset_is_not_taken_for_another_that_starts_with_it():
    entry = LearnerEntry(state())
    entry.remember("t.school-events/3/10", [("actions", b"ten")])

    read = load(dump(entry), "school-1", "learner-7")

    assert read.outputs_of("t.school-events/3/1") is None
    assert read.outputs_of("t.school-events/3/10") == [("actions", b"ten")]


def test_only_the_last_inputs_are_kept():
    entry = LearnerEntry(state())
    for offset in range(RECENT_INPUTS_KEPT + 5):
        entry.remember(f"t/0/{offset}", [("actions", str(offset).encode())])

    read = load(dump(entry), "school-1", "learner-7")

    assert read.outputs_of("t/0/4") is None
    assert read.outputs_of("t/0/5") == [("actions", b"5")]
    assert len(read.recent) == RECENT_INPUTS_KEPT


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
    entry.remember("t/0/1", [])

    assert dump(entry).split(b"\n")[0] == stored.split(b"\n")[0]

    entry.state = entry.state.model_copy(update={"email": "a@example.org"})
    assert load(dump(entry), "school-1", "learner-7").state.email == "a@example.org"


def test_a_learner_never_seen_starts_empty():
    entry = load(None, "school-1", "learner-7")

    assert entry.state == LearnerState.new("school-1", "learner-7")
    assert entry.outputs_of("t/0/0") is None


def test_an_entry_in_the_earlier_json_envelope_is_still_read():
    learner = state(tags=frozenset({"vip"}))
    envelope = {
        "state": learner.model_dump(mode="json"),
        "recent": [["t/1/5", [["actions", base64.b64encode(b"email").decode()], ["delays", base64.b64encode(b"").decode()]]]],
    }
    raw = json.dumps(envelope, separators=(",", ":")).encode()

    entry = learner_store.load(raw, "school-1", "learner-7")

    assert entry.state == learner
    assert entry.outputs_of("t/1/5") == [("actions", b"email"), ("delays", b"")]
    assert load(dump(entry), "school-1", "learner-7").outputs_of("t/1/5") == [("actions", b"email"), ("delays", b"")]


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
    assert not marks.decided_before("t.fired-timers/2/5", 1_000), "another topic"


def test_the_mark_follows_the_last_decided_input_of_a_topic_created_again():
    entry = LearnerEntry(state())
    entry.marks.decided("t/0/500", 1_000)
    assert not entry.marks.decided_before("t/0/0", 5_000)  # the first record of the new topic

    entry.marks.decided("t/0/0", 5_000)

    marks = round_trip(entry).marks
    assert not marks.decided_before("t/0/1", 5_000), "the next record of the new topic, in the same millisecond"
    assert marks.decided_before("t/0/0", 5_000)


def test_marks_of_several_partitions_are_kept_apart_and_beside_the_remembered_inputs():
    entry = LearnerEntry(state(tags=frozenset({"vip"})))
    entry.remember("t.school-events/1/7", [("actions", b"seven")])
    entry.marks.decided("t.school-events/1/7", 70)
    entry.marks.decided("t.control/1/2", 20)

    read = round_trip(entry)

    assert read.state == entry.state and read.outputs_of("t.school-events/1/7") == [("actions", b"seven")]
    assert read.marks.decided_before("t.school-events/1/7", 70) and read.marks.decided_before("t.control/1/2", 20)
    assert not read.marks.decided_before("t.control/1/3", 20)
    assert round_trip(read).marks.decided_before("t.control/1/2", 20), "kept as read when unchanged"


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


def test_outputs_of_inputs_before_their_partitions_record_are_forgotten_once_marked():
    entry = LearnerEntry(state())
    for input_id in ("t.school-events/1/5", "t.school-events/1/9", "t.fired-timers/1/3", "t.control/2/4"):
        entry.remember(input_id, [("actions", input_id.encode())])
    entry.marks.decided("t.school-events/1/9", 90)
    entry.marks.decided("t.fired-timers/1/3", 30)
    # t.control/2 has no mark (an entry from before the marks): its outputs stay.
    records = {("t.school-events", 1): 9, ("t.fired-timers", 1): 4, ("t.control", 2): 100}

    entry.forget_recorded(lambda topic, partition: records.get((topic, partition)))

    kept = [line.split(b"\t")[0].decode() for line in entry.recent]
    assert kept == ["t.school-events/1/9", "t.control/2/4"]  # 9 is the record itself: not yet acknowledged
    assert round_trip(entry).outputs_of("t.school-events/1/9") == [("actions", b"t.school-events/1/9")]


def test_nothing_is_forgotten_where_no_record_is_known():
    entry = LearnerEntry(state())
    entry.remember("t.school-events/1/5", [])
    entry.marks.decided("t.school-events/1/5", 50)

    entry.forget_recorded(lambda topic, partition: None)

    assert entry.outputs_of("t.school-events/1/5") == []
