"""Every question asked of the projections' store answers for one school only, on both stores.

Two schools with the same automation, step, learner and event ids (the
second school's records are the first's, its runs renamed) are folded into
one store; each school's answer to every question must equal the answer of a
store that holds that school's records alone. A statement that forgot its
school would add the other school's figures, runs or entries, and differ.
Every public function of `projections.sql_queries` and
`projections.operator_queries` is either asked here or named as the
operator's look-up across schools: a new query cannot go unchecked.
"""

from __future__ import annotations

import inspect
import itertools

import pytest

from projections import operator_queries, sql_queries
from projections.store import ProjectionStore
from tests.unit.projection_world import mixed_automations
from tests.unit.test_projection_store import fold_into, replayed

SCHOOLS = ("s1", "s2")
STATUSES = (None, "pending", "fulfilled", "failed", "completed_via_exit", "cancelled")
# The operator's, across schools by design: the CLI finds a run's or an automation's school
# with these, then asks that school; `schools` and `snapshot` are the operator's snapshot.
ACROSS_SCHOOLS = {"schools", "snapshot", "school_of_run", "schools_of_automation"}
_databases = itertools.count()


def in_school(record: dict, school: str) -> dict:
    """The record as the other school's: same learner, automation, step and event ids; its own run ids."""
    renamed = {**record, "school": school}
    for name in ("run_id", "replay_of"):
        if renamed.get(name):
            renamed[name] = f"{school}.{renamed[name]}"
    return renamed


def schools_partitions(schools: tuple[str, ...]) -> list[list[dict]]:
    world = replayed()
    return [[record if school == "s1" else in_school(record, school) for school in schools for record in partition]
            for partition in world.partitions]


def definitions(school: str):
    return [automation.model_copy(update={"school": school}) for automation in mixed_automations()]


def run_ids(store: ProjectionStore) -> list[str]:
    with store.connect() as conn:
        return sorted(row for row in conn.exec_driver_sql("SELECT run_id FROM runs").scalars())


QUESTIONS = {
    "stats_of": lambda conn, school, ids: [sql_queries.stats_of(conn, school, a).as_dict() for a in ids["automations"]],
    "known_automation": lambda conn, school, ids: [sql_queries.known_automation(conn, school, a) for a in ids["automations"]],
    "automations_page": lambda conn, school, ids: sql_queries.automations_page(conn, definitions(school), school),
    "automation_row": lambda conn, school, ids: [sql_queries.automation_row(conn, a) for a in definitions(school)],
    "runs_of_automation": lambda conn, school, ids: [sql_queries.runs_of_automation(conn, school, a, status, limit)
                                                     for a in ids["automations"] for status in STATUSES for limit in (None, 1)],
    "count_runs": lambda conn, school, ids: [operator_queries.count_runs(conn, school, a, status)
                                             for a in ids["automations"] for status in STATUSES],
    "find_run": lambda conn, school, ids: {run_id: (run.activity() if (run := sql_queries.find_run(conn, run_id, school)) else None)
                                           for run_id in ids["runs"]},
    "learner_history": lambda conn, school, ids: [sql_queries.learner_history(conn, school, u) for u in ids["users"]],
    "step_funnel": lambda conn, school, ids: [sql_queries.step_funnel(conn, school, a.id, a) for a in definitions(school)]
                                             + [sql_queries.step_funnel(conn, school, a, None) for a in ids["automations"]],
    "waiting_by_step": lambda conn, school, ids: [sql_queries.waiting_by_step(conn, school, a) for a in ids["automations"]],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request, tmp_path):
    made = []

    def make() -> ProjectionStore:
        n = next(_databases)
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'projections-{n}.sqlite3'}"
        else:
            url = request.getfixturevalue("postgres").create_database(f"school_scope_{n}")
        store = ProjectionStore(url)
        store.migrate()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def test_every_query_is_asked_here_or_is_the_operators_across_schools():
    public = {name for module in (sql_queries, operator_queries)
              for name, function in inspect.getmembers(module, inspect.isfunction)
              if function.__module__ == module.__name__ and not name.startswith("_")}
    assert public == set(QUESTIONS) | ACROSS_SCHOOLS, "a query without a school-scope check here"


def test_each_school_is_answered_as_if_the_other_were_not_there(make_store):
    both = make_store()
    fold_into(both, schools_partitions(SCHOOLS), 5)
    everyone = run_ids(both)
    ids = {"automations": ["welcome", "nurture", "renewal", "no-such"], "users": ["ada", "bob", "cy", "dan"], "runs": everyone}
    for school in SCHOOLS:
        alone = make_store()
        fold_into(alone, schools_partitions((school,)), 5)
        assert run_ids(alone) and set(run_ids(alone)) < set(everyone)
        with both.reading() as shared, alone.reading() as own:
            for name, ask in QUESTIONS.items():
                assert ask(shared, school, ids) == ask(own, school, ids), f"{name} for {school} holds another school's rows"
    with both.reading() as conn:
        # the operator's look-ups find each school's own
        assert operator_queries.schools_of_automation(conn, "nurture") == ["s1", "s2"]
        assert operator_queries.schools_of_automation(conn, "no-such") == []
        assert {operator_queries.school_of_run(conn, run_id) for run_id in everyone} == {"s1", "s2"}
        assert all(operator_queries.school_of_run(conn, run_id) == "s2" for run_id in everyone if run_id.startswith("s2."))
        assert operator_queries.school_of_run(conn, "no-such") is None
