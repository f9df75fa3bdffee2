"""A simulation's events in clock order, without holding them in memory.

Owns the two passes over the events file of `automations simulate`: the first
checks every line as the live edge would (`console.event_files`), reports the
bad ones, and parks each good event, pickled, in a temporary file, keeping only
its clock order key and place; the second reads them back in clock order
(`engine.simulation.clock_order`: `occurred_at`, ties in input order). The
keys and places are kept in arrays of machine integers (24 bytes an event; as
tuples of Python objects they took about 140), so a 50,000-event file costs
about a megabyte instead of its parsed events.
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from console.event_files import label, numbered_events, opened
from console.progress import Progress
from engine.school_events import EventRejected, SchoolEvent
from engine.simulation import clock_order

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class EventSpool:
    """Events read once, checked and parked; `in_clock_order()` gives them back sorted."""

    def __init__(self, path: Path, until: datetime | None, report_problem: Callable[[str], None],
                 progress: Progress | None = None):
        self.count = 0
        self.after_until = 0  # events `--until` leaves out
        self._parked = tempfile.TemporaryFile()
        # Per event, by position: `occurred_at` as exact microseconds since the epoch (aware
        # datetimes order as their instants do), and where its pickle lies in the file.
        self._instants, self._offsets, self._sizes = array("q"), array("q"), array("q")
        with opened(path, "JSONL file of events") as lines:
            for number, parsed in numbered_events(lines):
                if isinstance(parsed, EventRejected):
                    report_problem(f"{label(path)}:{number}: {parsed.reason}")
                    continue
                self._park(parsed)
                if until is not None and parsed.occurred_at > until:
                    self.after_until += 1
                if progress is not None and progress.due():
                    progress.report(f"read {number:,} lines")

    def _park(self, event: SchoolEvent) -> None:
        data = pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL)
        occurred_at, _ = clock_order(event, self.count)
        self._instants.append((occurred_at - _EPOCH) // _MICROSECOND)
        self._offsets.append(self._parked.tell())
        self._sizes.append(len(data))
        self._parked.write(data)
        self.count += 1

    def in_clock_order(self) -> Iterator[SchoolEvent]:
        # A stable sort by instant keeps ties in input order, as `clock_order` has it.
        order = array("q", sorted(range(self.count), key=self._instants.__getitem__))
        for position in order:
            self._parked.seek(self._offsets[position])
            yield pickle.loads(self._parked.read(self._sizes[position]))

    def close(self) -> None:
        self._parked.close()
        self._instants, self._offsets, self._sizes = array("q"), array("q"), array("q")
