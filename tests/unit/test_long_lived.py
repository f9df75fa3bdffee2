"""The views are moved out of the cyclic collector's walks as they grow (projections.long_lived):
a full collection walked every object of 1M runs' views, 3.5 s in the event loop. Neither
the API server nor the CLI holds views any more (they live in the projections' database);
the in-memory fold, the oracle, still freezes in bench/api_views.py's baseline."""

from __future__ import annotations

import gc

from projections.long_lived import Freezer


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
