"""Keeping the cyclic garbage collector off the views, which live as long as the process.

The views hold millions of objects, and every full collection of the cyclic
collector walks all of them: 3.5 s at 1M runs, in the API server's event loop
(bench/api_views.py), and a rebuild from offset 0 ran some twenty of them.
`Freezer.folded()` moves everything that exists into the collector's permanent
generation every `every` records: what the views drop (a partition's views
replaced by a rebuild included) is still freed by reference counting, as
long as the views make no reference cycles (a test holds them to that); only
cyclic garbage alive at a freeze stays, which the growth of the views bounds.
"""

from __future__ import annotations

import gc

FREEZE_EVERY = 50_000


class Freezer:
    def __init__(self, every: int = FREEZE_EVERY) -> None:
        self.every = every
        self._since = 0

    def folded(self, records: int = 1) -> None:
        self._since += records
        if self._since >= self.every:
            gc.freeze()
            self._since = 0
