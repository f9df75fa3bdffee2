"""Per-automation figures: the automations page's numbers.

Owns `AutomationStats` (times executed = runs started, replays included;
skipped starts and declined entries apart, since they are no runs; runs by
current status; the learners inside: those with a run pending or executing,
each once however many runs they have; last run) and `merge`, which adds up
the figures that each partition's fold keeps (a learner's runs all live in
one partition, so the sum is exact). `fold(records)` builds them from run-status records alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from projections.run_views import iso

LIVE = ("pending", "executing")


@dataclass
class AutomationStats:
    school: str
    automation_id: str
    times_executed: int = 0
    skipped: int = 0
    declined: int = 0
    by_status: Counter = field(default_factory=Counter)
    last_run_at: datetime | None = None
    live_runs_of: Counter = field(default_factory=Counter)  # user -> runs pending or executing
    merged_learners_inside: int = 0  # a merged total's: the partitions' learners inside, added up

    @property
    def learners_inside(self) -> int:
        return len(self.live_runs_of) + self.merged_learners_inside

    def started(self, at: datetime, user: str) -> None:
        self.times_executed += 1
        self.by_status["executing"] += 1
        self.live_runs_of[user] += 1
        self.last_run_at = at if self.last_run_at is None else max(self.last_run_at, at)

    def moved(self, previous: str, status: str, user: str) -> None:
        self.by_status[previous] -= 1
        self.by_status[status] += 1
        if previous in LIVE and status not in LIVE:
            self.live_runs_of[user] -= 1
            if not self.live_runs_of[user]:
                del self.live_runs_of[user]

    def as_dict(self) -> dict:
        return {
            "times_executed": self.times_executed,
            "skipped": self.skipped,
            "declined": self.declined,
            "by_status": {status: count for status, count in sorted(self.by_status.items()) if count},
            "learners_inside": self.learners_inside,
            "last_run_at": iso(self.last_run_at),
        }


def merge(school: str, automation_id: str, parts: Iterable[AutomationStats]) -> AutomationStats:
    total = AutomationStats(school, automation_id)
    for part in parts:
        total.times_executed += part.times_executed
        total.skipped += part.skipped
        total.declined += part.declined
        total.by_status.update(part.by_status)
        total.merged_learners_inside += part.learners_inside  # exact: a learner's runs share a partition
        if part.last_run_at is not None:
            total.last_run_at = max(filter(None, (total.last_run_at, part.last_run_at)))
    return total


def fold(records: Iterable[dict]) -> dict[tuple[str, str], AutomationStats]:
    """(school, automation id) -> figures, from decoded run-status records."""
    from projections.partition import PartitionViews

    views = PartitionViews()
    for record in records:
        views.apply(record)
    return dict(views.stats)
