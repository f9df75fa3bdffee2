"""The questions the operator commands ask of the runs, answered from the store or from folds.

Owns `StoreViews` (the projections' store, through the API's own queries,
`projections.sql_queries`, each answer read in one snapshot) and
`FoldedViews` (partitions folded in memory, `projections.queries`: the
oracle the store is held to), which answer alike, and `views_of`, which
takes either the store's views or a list of folded partitions. The operator
acts for every school: a run id or an automation id is first looked up
across schools (`projections.operator_queries`), then asked of its school.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from engine.definitions import Automation
from projections import queries
from projections.partition import PartitionViews
from projections.run_views import RunView

if TYPE_CHECKING:
    from projections.store import ProjectionStore


class StoreViews:
    def __init__(self, store: ProjectionStore) -> None:
        # SQLAlchemy is imported by the commands that read the store, not at every command's start.
        from projections import operator_queries, sql_queries

        self.store, self.sql, self.operator = store, sql_queries, operator_queries

    def _ask(self, ask, *args):
        with self.store.reading() as conn:
            return ask(conn, *args)

    def schools_of_automation(self, automation_id: str) -> list[str]:
        return self._ask(self.operator.schools_of_automation, automation_id)

    def runs_of_automation(self, school: str, automation_id: str, status: str | None, limit: int | None) -> list[dict]:
        return self._ask(self.sql.runs_of_automation, school, automation_id, status, limit)

    def count_runs(self, school: str, automation_id: str, status: str | None) -> int:
        return self._ask(self.operator.count_runs, school, automation_id, status)

    def find_run(self, run_id: str) -> RunView | None:
        with self.store.reading() as conn:
            school = self.operator.school_of_run(conn, run_id)
            return None if school is None else self.sql.find_run(conn, run_id, school)

    def learner_history(self, school: str, user: str) -> dict:
        return self._ask(self.sql.learner_history, school, user)

    def step_funnel(self, school: str, automation_id: str, automation: Automation | None) -> list[dict]:
        return self._ask(self.sql.step_funnel, school, automation_id, automation)

    def waiting_by_step(self, school: str, automation_id: str) -> dict[str, int]:
        return self._ask(self.sql.waiting_by_step, school, automation_id)


class FoldedViews:
    def __init__(self, parts: Sequence[PartitionViews]) -> None:
        self.parts = parts

    def schools_of_automation(self, automation_id: str) -> list[str]:
        return sorted({school for part in self.parts for (school, a) in part.stats if a == automation_id})

    def runs_of_automation(self, school: str, automation_id: str, status: str | None, limit: int | None) -> list[dict]:
        return queries.runs_of_automation(self.parts, school, automation_id, status=status, limit=limit)

    def count_runs(self, school: str, automation_id: str, status: str | None) -> int:
        return len(queries.runs_of_automation(self.parts, school, automation_id, status=status))

    def find_run(self, run_id: str) -> RunView | None:
        return queries.find_run(self.parts, run_id)

    def learner_history(self, school: str, user: str) -> dict:
        return queries.learner_history(self.parts, school, user)

    def step_funnel(self, school: str, automation_id: str, automation: Automation | None) -> list[dict]:
        return queries.step_funnel(self.parts, school, automation_id, automation)

    def waiting_by_step(self, school: str, automation_id: str) -> dict[str, int]:
        return queries.waiting_by_step(self.parts, school, automation_id)


def views_of(source: StoreViews | Sequence[PartitionViews]) -> StoreViews | FoldedViews:
    return source if isinstance(source, StoreViews) else FoldedViews(source)
