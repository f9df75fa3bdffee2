"""The views are moved out of the cyclic collector's walks as they grow (projections.long_lived):
a full collection walked every object of 1M runs' views, 3.5 s in the API's event loop."""

from __future__ import annotations

import gc

from api.views import RunStatusViews
from processors.kafka_io import Record
from projections.long_lived import Freezer
from schemas.codec import encode
from tests.unit.projection_world import RecordingWorld, mixed_automations, play_mixed_flow


def mixed_flow_records() -> list[Record]:
    """The run-status topic's records of the mixed flow, all in partition 0."""
    world = RecordingWorld(mixed_automations())
    play_mixed_flow(world)
    return [Record("run-status", 0, offset, None, encode("run_status", record), 0) for offset, record in enumerate(world.records)]


def test_everything_folded_so_far_is_frozen_every_so_many_records():
    gc.unfreeze()
    try:
        freezer = Freezer(every=3)
        freezer.folded()
        freezer.folded()
        assert gc.get_freeze_count() == 0
        kept = [object() for _ in range(10)]
        freezer.folded()
        assert gc.get_freeze_count() > 0, "the third record froze what exists"
        gc.unfreeze()
        freezer.folded(2)
        assert gc.get_freeze_count() == 0, "counting starts again after a freeze"
        assert kept
    finally:
        gc.unfreeze()


def test_the_api_views_freeze_as_they_fold():
    views = RunStatusViews()
    assert views._freezer.every == 50_000
    views._freezer = Freezer(every=2)
    gc.unfreeze()
    try:
        for record in mixed_flow_records()[:2]:
            views.apply(record)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_partition_a_rebuild_replaces_is_freed_even_after_a_freeze():
    import weakref

    # given views folded, then frozen out of the cyclic collector
    views = RunStatusViews()
    for record in mixed_flow_records():
        views.apply(record)
    old = weakref.ref(views.parts[0])
    gc.freeze()
    try:
        # when an operator's rebuild replaces the partition's views
        views.reset([0])
        # then the old ones are gone at once: they are no reference cycle the collector would have to find
        assert old() is None
    finally:
        gc.unfreeze()
