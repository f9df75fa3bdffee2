"""Per-step figures: a live funnel of one automation's flow.

Owns `StepStats`: how many runs reached the step, what the step did (records
by outcome), who is waiting in it now and since when, and how long learners
spent there (every departure from a wait: resumed, advanced, moved on by an
edit, or left by an exit, a cancel or a replay). `merge` adds up the
partitions' figures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from projections.run_views import iso


@dataclass
class StepStats:
    step_id: str
    step_type: str | None = None
    reached: int = 0
    outcomes: Counter = field(default_factory=Counter)
    waiting: dict[str, datetime] = field(default_factory=dict)  # run id -> waiting since
    waiting_runs_of: Counter = field(default_factory=Counter)  # learner -> their runs waiting here
    departures: int = 0
    seconds_spent: float = 0.0
    longest_seconds: float = 0.0
    # A merged total's (`merge`) share of the partitions it adds up: their learners waiting
    # and the oldest wait, so the total copies no partition's waiting runs.
    merged_learners_waiting: int = 0
    merged_oldest: datetime | None = None

    @property
    def learners_waiting(self) -> int:
        """Each learner once, however many of their runs wait here."""
        return len(self.waiting_runs_of) + self.merged_learners_waiting

    def waits(self, run_id: str, user: str, at: datetime) -> None:
        if run_id not in self.waiting:
            self.waiting_runs_of[user] += 1
        self.waiting[run_id] = at

    def left(self, run_id: str, user: str, at: datetime) -> None:
        since = self.waiting.pop(run_id, None)
        if since is None:
            return
        self.waiting_runs_of[user] -= 1
        if not self.waiting_runs_of[user]:
            del self.waiting_runs_of[user]
        seconds = max(0.0, (at - since).total_seconds())
        self.departures += 1
        self.seconds_spent += seconds
        self.longest_seconds = max(self.longest_seconds, seconds)

    def oldest_wait(self) -> datetime | None:
        return min(filter(None, (min(self.waiting.values(), default=None), self.merged_oldest)), default=None)

    def as_dict(self) -> dict:
        return {
            "step_id": self.step_id,
            "step_type": self.step_type,
            "reached": self.reached,
            "outcomes": dict(sorted((k, v) for k, v in self.outcomes.items() if v)),
            "waiting_now": self.learners_waiting,
            "waiting_since_oldest": iso(self.oldest_wait()),
            "left_after_waiting": self.departures,
            "average_wait_seconds": round(self.seconds_spent / self.departures, 3) if self.departures else None,
            "longest_wait_seconds": round(self.longest_seconds, 3) if self.departures else None,
        }


def merge(step_id: str, parts: Iterable[StepStats]) -> StepStats:
    """The partitions' figures added up (a learner's runs all live in one partition)."""
    total = StepStats(step_id)
    for part in parts:
        total.step_type = total.step_type or part.step_type
        total.reached += part.reached
        total.outcomes.update(part.outcomes)
        total.merged_learners_waiting += part.learners_waiting
        total.merged_oldest = min(filter(None, (total.merged_oldest, part.oldest_wait())), default=None)
        total.departures += part.departures
        total.seconds_spent += part.seconds_spent
        total.longest_seconds = max(total.longest_seconds, part.longest_seconds)
    return total
