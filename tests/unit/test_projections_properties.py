"""Properties of the projections' fold: the same views however the records arrive.

A rebuild reads the partitions in a different interleaving than the live
consumer did, and a worker may send an input's outputs twice (after a crash,
or when school events are reprocessed); neither may change a view.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import queries
from projections.partition import PartitionViews
from tests.unit.projection_world import RecordingWorld, mixed_automations, play_mixed_flow

WORLD = RecordingWorld(mixed_automations())
play_mixed_flow(WORLD)


def fold_parts(partitions: list[list[dict]]) -> list[PartitionViews]:
    parts = []
    for records in partitions:
        part = PartitionViews()
        for record in records:
            part.apply(record)
        parts.append(part)
    return parts


EXPECTED = queries.snapshot(fold_parts(WORLD.partitions))


@st.composite
def interleavings(draw):
    """All records in one stream, each partition's order kept (as one consumer reads them)."""
    queues = [list(records) for records in WORLD.partitions]
    merged = []
    while any(queues):
        index = draw(st.sampled_from([i for i, q in enumerate(queues) if q]))
        merged.append(queues[index].pop(0))
    return merged


@settings(max_examples=60)
@given(interleavings())
def test_any_interleaving_of_the_partitions_folds_to_the_same_views(stream):
    single = PartitionViews()
    for record in stream:
        single.apply(record)
    assert queries.snapshot([single]) == EXPECTED


@st.composite
def with_resent_batches(draw):
    """Each partition with some stretches of records sent again right after (re-delivered outputs)."""
    partitions = []
    for records in WORLD.partitions:
        out: list[dict] = []
        position = 0
        while position < len(records):
            length = draw(st.integers(1, 4))
            batch = records[position : position + length]
            out.extend(batch)
            if draw(st.booleans()):
                out.extend(dict(record) for record in batch)
            position += length
        partitions.append(out)
    return partitions


@settings(max_examples=60)
@given(with_resent_batches())
def test_records_sent_again_change_no_view(partitions):
    assert queries.snapshot(fold_parts(partitions)) == EXPECTED


def test_a_rebuild_from_the_start_equals_the_live_fold():
    live = fold_parts(WORLD.partitions)
    before = queries.snapshot(live)
    rebuilt = fold_parts(WORLD.partitions)
    assert queries.snapshot(rebuilt) == before
    assert before["runs"], "the mixed flow has runs"


def test_a_resent_batch_after_later_records_does_not_move_a_run_back():
    # given a run that waited and then exited
    bob = next(r for r in WORLD.report() if r.user == "bob")
    records = [r for part in WORLD.partitions for r in part if r.get("run_id") == bob.run_id]
    part = PartitionViews()
    for record in records:
        part.apply(record)
    # when the batch that made it wait arrives again (a reprocessed input)
    assert not any(part.apply(dict(record)) for record in records[:3])
    # then it stays where it is
    assert part.runs[bob.run_id].status == "completed_via_exit"
    assert queries.waiting_by_step([part], "s1", "nurture") == {}
