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
    waiting_user: dict[str, str] = field(default_factory=dict)  # run id -> its learner

    @property
    def learners_waiting(self) -> int:
        """Each learner once, however many of their runs wait here."""
        return len(set(self.waiting_user.values()))

    def waits(self, run_id: str, user: str, at: datetime) -> None:
        self.waiting[run_id] = at
        self.waiting_user[run_id] = user
    departures: int = 0
    seconds_spent: float = 0.0
    longest_seconds: float = 0.0

    def left(self, run_id: str, at: datetime) -> None:
        since = self.waiting.pop(run_id, None)
        self.waiting_user.pop(run_id, None)
        if since is None:
            return
        seconds = max(0.0, (at - since).total_seconds())
        self.departures += 1
        self.seconds_spent += seconds
        self.longest_seconds = max(self.longest_seconds, seconds)

    def as_dict(self) -> dict:
        oldest = min(self.waiting.values(), default=None)
        return {
            "step_id": self.step_id,
            "step_type": self.step_type,
            "reached": self.reached,
            "outcomes": dict(sorted((k, v) for k, v in self.outcomes.items() if v)),
            "waiting_now": self.learners_waiting,
            "waiting_since_oldest": iso(oldest),
            "left_after_waiting": self.departures,
            "average_wait_seconds": round(self.seconds_spent / self.departures, 3) if self.departures else None,
            "longest_wait_seconds": round(self.longest_seconds, 3) if self.departures else None,
        }


def merge(step_id: str, parts: Iterable[StepStats]) -> StepStats:
    total = StepStats(step_id)
    for part in parts:
        total.step_type = total.step_type or part.step_type
        total.reached += part.reached
        total.outcomes.update(part.outcomes)
        total.waiting.update(part.waiting)
        total.waiting_user.update(part.waiting_user)
        total.departures += part.departures
        total.seconds_spent += part.seconds_spent
        total.longest_seconds = max(total.longest_seconds, part.longest_seconds)
    return total
