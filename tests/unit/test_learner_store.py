"""The learners table's entry (processors.learner_store): state plus the outputs of the last inputs.

Given a learner's entry as the learner processor writes it, when it is read
back, then the state is equal, each remembered input gives back exactly its
outputs (bytes of any kind, none, several), an input never seen gives None,
only the last RECENT_INPUTS_KEPT inputs are kept, a state the input did not
change is written back byte for byte, and an entry in the earlier JSON
envelope is still read.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from engine.learner import LearnerState
from processors import learner_store
from processors.learner_store import RECENT_INPUTS_KEPT, LearnerEntry, dump, load

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
