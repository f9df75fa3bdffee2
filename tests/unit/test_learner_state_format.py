"""The stored learner state (processors.learner_state_format): versioned, never lost on an upgrade.

Given entries as every release wrote them (golden files: `before_versions/`, the
JSON lines of the pydantic state before the format had a version, and
`version_1/`, the same states as this release writes them), when this
release reads them, then every state means what it meant when written: field for
field the document that was stored, instants with their offsets, non-finite
profile numbers included; and writing it back and reading it again gives the
same state, marks and timers. Any state the engine can hold survives the round
trip (hypothesis). And when what a stored field holds changes, the schema's
fingerprint no longer matches the version's: the change needs a new version
with a decoder of the old one.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.commands import Timer
from engine.learner import LearnerState
from engine.runs import FinishedRun, Run
from engine.values import as_json
from processors.learner_entries import dump, load
from processors.learner_state_format import (
    DECODERS,
    FINGERPRINTS,
    VERSION,
    UnknownStateVersion,
    decode_state,
    encode_state,
    schema_fingerprint,
)

GOLDEN = Path(__file__).parent / "golden" / "learner_entries"
WRITTEN = sorted(GOLDEN.glob("*/*.entry"))
SETS = ("tags", "courses", "completed_courses", "programs", "completed_programs", "products")


def _meaning(document: dict) -> dict:
    """A stored state document as values: sets unordered, instants as instants with their offsets."""
    meaning = dict(document)
    for name in SETS:
        meaning[name] = frozenset(document[name])
    return json.loads(json.dumps(meaning, default=sorted), object_hook=_instants)


def _instants(item: dict) -> dict:
    return {key: _instant(value) for key, value in item.items()}


def _instant(value):
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return (moment, moment.utcoffset())
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _read_as_stored(state: LearnerState) -> dict:
    return _meaning(json.loads(json.dumps(as_json(state), allow_nan=True)))


def _stored_document(raw: bytes) -> dict:
    line = raw.split(b"\n")[0]
    return json.loads(line if line.startswith(b"{") else line.partition(b"\t")[2])


def test_the_goldens_cover_every_version_and_the_unusual_values():
    assert {path.parent.name for path in WRITTEN} == {"before_versions"} | {f"version_{v}" for v in DECODERS}
    assert (GOLDEN / "before_versions" / "unusual.entry").exists()


@pytest.mark.parametrize("path", WRITTEN, ids=[f"{p.parent.name}/{p.stem}" for p in WRITTEN])
def test_a_state_written_by_any_release_means_what_it_meant(path):
    raw = path.read_bytes()
    stored = _stored_document(raw)
    entry = load(raw, stored["school"], stored["user"])

    assert _read_as_stored(entry.state) == _meaning(stored)

    entry.stored_state = None  # written again by this release
    again = load(dump(entry), stored["school"], stored["user"])
    assert _read_as_stored(again.state) == _meaning(stored)
    assert again.marks.encoded() == entry.marks.encoded()
    assert again.timers.items() == entry.timers.items()


def test_a_non_finite_profile_number_and_an_offset_survive_an_upgrade():
    raw = (GOLDEN / "before_versions" / "unusual.entry").read_bytes()
    state = load(raw, "s:chool", "üser 1").state
    rewritten = decode_state(encode_state(state))
    for current in (state, rewritten):
        assert math.isnan(current.fields["score"]) and current.fields["limit"] == math.inf and current.fields["floor"] == -math.inf
        assert current.registered_at.isoformat() == "2027-03-01T09:30:15.250000+02:00"
        assert current.runs["run-1"].timer.due_at.utcoffset() == timedelta(hours=2)


def test_version_1_is_written_as_the_releases_before_it_wrote_it():
    # A release rolled back reads it (checked against main at 7ab526d when written);
    # a later version is written `N\t{...}`.
    assert VERSION > 1 or encode_state(LearnerState.new("s", "u")).startswith(b'{"school":"s","user":"u",')
    assert decode_state(b"1\t" + encode_state(LearnerState.new("s", "u"))) == LearnerState.new("s", "u")


def test_a_state_from_a_newer_release_is_refused_loudly():
    with pytest.raises(UnknownStateVersion, match="version 99"):
        decode_state(b'99\t{"school":"s","user":"u"}')


def test_a_field_that_changes_what_it_holds_needs_a_new_version():
    assert schema_fingerprint() == FINGERPRINTS[VERSION], (
        "LearnerState (or a run or timer in it) changed what is stored: make the stored form version "
        f"{VERSION + 1} in processors/learner_state_format.py, with a decoder that reads version {VERSION} "
        "entries into the new state, golden files of the new version, and its fingerprint "
        f"{schema_fingerprint()!r} in FINGERPRINTS."
    )


TEXT = st.text(max_size=12)
OFFSETS = st.sampled_from([timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])
INSTANTS = st.builds(
    lambda moment, zone: moment.replace(tzinfo=timezone.utc).astimezone(zone),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 1, 1)),
    OFFSETS,
)
FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), TEXT)
STATUS = st.sampled_from(["pending", "executing"])
TIMERS = st.builds(Timer, id=TEXT, school=TEXT, user=TEXT, kind=st.just("wait"), due_at=INSTANTS,
                   automation_id=TEXT, run_id=st.none() | TEXT, step_id=st.none() | TEXT)
RUNS = st.builds(Run, id=TEXT, automation_id=TEXT, automation_version=st.integers(0, 10**6), status=STATUS,
                 started_at=INSTANTS, trigger_id=st.none() | TEXT, position=st.none() | TEXT,
                 followers=st.lists(TEXT, max_size=3).map(tuple), timer=st.none() | TIMERS)
FINISHED = st.builds(FinishedRun, id=TEXT, automation_id=TEXT, status=st.sampled_from(["fulfilled", "failed", "cancelled"]),
                     started_at=INSTANTS, ended_at=INSTANTS, reason=st.none() | TEXT, error=st.none() | TEXT)
STATES = st.builds(
    LearnerState,
    school=TEXT, user=TEXT, registered=st.booleans(), email=st.none() | TEXT, registered_at=st.none() | INSTANTS,
    tags=st.frozensets(TEXT, max_size=4), courses=st.frozensets(TEXT, max_size=3),
    fields=st.dictionaries(TEXT, FIELD_VALUES, max_size=5), last_activity_at=st.none() | INSTANTS,
    runs=st.dictionaries(TEXT, RUNS, max_size=3), finished=st.lists(FINISHED, max_size=3).map(tuple),
    last_started=st.dictionaries(TEXT, INSTANTS, max_size=2),
    inactivity_timers=st.dictionaries(st.integers(1, 365), INSTANTS, max_size=3),
    skipped_runs=st.lists(TEXT, max_size=2).map(tuple),
)


@given(STATES)
def test_any_state_survives_the_round_trip_with_its_offsets(state):
    read = decode_state(encode_state(state))
    assert read == state
    assert [run.started_at.utcoffset() for run in read.runs.values()] == [run.started_at.utcoffset() for run in state.runs.values()]
    assert b"\n" not in encode_state(state)  # one line of the entry
