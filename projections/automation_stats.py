"""Per-automation figures folded from the run-status topic alone.

Owns `AutomationStats` (times executed = runs started, skipped starts,
runs by current status, learners inside now, last run) and `fold`, a pure
function of run-status records, so the same figures come out whether they are
built live, rebuilt from offset 0, or computed in a test.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

ENDED = {"fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled"}


@dataclass
class AutomationStats:
    automation_id: str
    times_executed: int = 0
    skipped: int = 0
    by_status: Counter = field(default_factory=Counter)
    last_run_at: datetime | None = None
    _status_of_run: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def learners_inside(self) -> int:
        return sum(1 for status in self._status_of_run.values() if status not in ENDED)


def fold(records: Iterable[dict]) -> dict[str, AutomationStats]:
    stats: dict[str, AutomationStats] = {}
    for record in records:
        automation_id = record["automation_id"]
        entry = stats.setdefault(automation_id, AutomationStats(automation_id))
        kind = record["kind"]
        if kind == "run_started":
            entry.times_executed += 1
            entry.last_run_at = max(filter(None, (entry.last_run_at, record["at"])))
            _set_status(entry, record["run_id"], "executing")
        elif kind == "run_skipped":
            entry.skipped += 1
        elif kind == "run_status_changed" and record.get("run_id"):
            _set_status(entry, record["run_id"], record["status"])
    return stats


def _set_status(entry: AutomationStats, run_id: str, status: str) -> None:
    previous = entry._status_of_run.get(run_id)
    if previous is not None:
        entry.by_status[previous] -= 1
    entry.by_status[status] += 1
    entry._status_of_run[run_id] = status
