"""A simulation's events in clock order, without holding them in memory.

Owns the two passes over the events file of `automations simulate`: the first
checks every line as the live edge would (`console.event_files`), reports the
bad ones, and parks each good event, pickled, in a temporary file, keeping only
its clock order key and place; the second reads them back in clock order
(`engine.simulation.clock_order`: `occurred_at`, ties in input order). A
50,000-event file then costs a few megabytes instead of its parsed events.
"""

from __future__ import annotations

import pickle
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from console.event_files import label, numbered_events, opened
from console.progress import Progress
from engine.school_events import EventRejected, SchoolEvent
from engine.simulation import clock_order


class EventSpool:
    """Events read once, checked and parked; `in_clock_order()` gives them back sorted."""

    def __init__(self, path: Path, until: datetime | None, report_problem: Callable[[str], None],
                 progress: Progress | None = None):
        self.count = 0
        self.after_until = 0  # events `--until` leaves out
        self._parked = tempfile.TemporaryFile()
        # (occurred_at, position, offset, size) per event; sorted before the second pass.
        self._places: list[tuple[datetime, int, int, int]] = []
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
        self._places.append((*clock_order(event, self.count), self._parked.tell(), len(data)))
        self._parked.write(data)
        self.count += 1

    def in_clock_order(self) -> Iterator[SchoolEvent]:
        self._places.sort()
        for _, _, offset, size in self._places:
            self._parked.seek(offset)
            yield pickle.loads(self._parked.read(size))

    def close(self) -> None:
        self._parked.close()
        self._places = []
