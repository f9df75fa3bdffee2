"""The projections' store contract: one test class, two stores (SQLite, PostgreSQL).

Every store folds the run-status records of scenario worlds in batches, with
its offsets, and must answer exactly what the in-memory fold
(`projections.partition`, the oracle) answers: the whole snapshot, and each
question the API asks. Then what a store adds: offsets that resume, that a
second projector cannot move under the first, partitions rebuilt alone,
migrations that keep data, and no school's rows in another school's answer.
PostgreSQL is a real throwaway cluster (tests/postgres.py), never a stand-in.
"""

from __future__ import annotations

import gc
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from engine.commands import CancelRun, HandleSchoolEvent, ReplayRun
from engine.runs import RECENT_FINISHED_KEPT
from engine.school_events import SchoolEvent
from projections import queries, sql_queries
from projections import schema as t
from projections.partition import PartitionViews
from projections.store import OffsetMoved, ProjectionStore
from schemas.codec import encode
from tests.unit.projection_world import T0, RecordingWorld, automation, mixed_automations, play_mixed_flow


def mixed() -> RecordingWorld:
    world = RecordingWorld(mixed_automations())
    play_mixed_flow(world)
    return world


def replayed() -> RecordingWorld:
    world = mixed()
    failed = next(r for r in world.report() if r.status == "failed")
    world.send(ReplayRun(run_id=failed.run_id, command_id="c-1"), "s1", failed.user, T0 + timedelta(hours=1))
    return world


def decided_again() -> RecordingWorld:
    """Inputs decided twice (a state lost in a crash): a skip and a start recorded again, later."""
    world = RecordingWorld(mixed_automations())
    world.event("r-ada", "user.registered", "ada", 0, email="a@example.org", fields={})
    world.event("t1", "user.tag_added", "ada", 1, tag="new")
    world.event("t2", "user.tag_removed", "ada", 1.1, tag="new")
    for event_id, type_, minutes, data in [("t3", "user.tag_added", 1.2, {"tag": "new"}), ("e1", "course.enrolled", 5, {"course": "py"})]:
        event = SchoolEvent(id=event_id, type=type_, school="s1", user="ada", occurred_at=T0 + timedelta(minutes=minutes), data=data)
        before = dict(world.states)
        world.send(HandleSchoolEvent(event=event), "s1", "ada", event.occurred_at)
        world.states = before
        world.send(HandleSchoolEvent(event=event), "s1", "ada", event.occurred_at + timedelta(seconds=90))
    return world


def many_finished() -> RecordingWorld:
    praise = automation("praise", {"event": "lesson.completed"}, [{"id": "m", "type": "send_email", "template": "well-done"}])
    world = RecordingWorld([praise])
    for n in range(2 * RECENT_FINISHED_KEPT + 5):
        world.event(f"l{n}", "lesson.completed", "ada", 2 * n, course="py", lesson=f"l{n}")
    return world


def waiting_and_cancelled() -> RecordingWorld:
    nurture = automation("nurture", {"event": "course.enrolled"}, [
        {"id": "m", "type": "send_email", "template": "intro"},
        {"id": "w", "type": "wait_duration", "amount": 2, "unit": "days"},
        {"id": "n", "type": "send_email", "template": "nudge"},
    ])
    world = RecordingWorld([nurture])
    for n, course in enumerate(["py", "js", "go"]):
        world.event(f"e{n}", "course.enrolled", "ada", 5 * n, course=course)
    for n in range(12):
        world.event(f"b{n}", "course.enrolled", f"learner-{n}", 20 + 7 * n, course="py")
    for n in range(3):  # started by a worker whose clock was behind: folded after later starts
        world.event(f"late-{n}", "course.enrolled", f"late-{n}", 21 + n, course="js")
    ada_runs = sorted(run.run_id for run in world.report() if run.user == "ada")
    for run_id in ada_runs[:2]:
        world.send(CancelRun(run_id=run_id, command_id=f"c-{run_id}"), "s1", "ada", T0 + timedelta(hours=3))
    world.fire_due(T0 + timedelta(days=2, minutes=40), inclusive=True)
    return world


def two_schools() -> RecordingWorld:
    """The same learner ids in two schools."""
    automations = mixed_automations() + [automation("course-a", {"event": "course.enrolled"}, [
        {"id": "pause", "type": "wait_duration", "amount": 1, "unit": "days"}], school="s2")]
    world = RecordingWorld(automations)
    world.definitions = automations
    play_mixed_flow(world)
    world.event("e1", "course.enrolled", "ada", 2, school="s2", course="py")
    world.event("e2", "course.enrolled", "bob", 3, school="s2", course="py")
    return world


WORLDS = {"mixed": mixed, "replayed": replayed, "decided_again": decided_again, "many_finished": many_finished,
          "waiting_and_cancelled": waiting_and_cancelled, "two_schools": two_schools}


def in_memory(world: RecordingWorld) -> list[PartitionViews]:
    parts = []
    for records in world.partitions:
        part = PartitionViews()
        for record in records:
            part.apply(dict(record))
        parts.append(part)
    return parts


def fold_into(store: ProjectionStore, partitions: list[list[dict]], batch: int, from_bytes: bool = False) -> None:
    for part, records in enumerate(partitions):
        offset = store.offsets().get(part, 0)
        for start in range(offset, len(records), batch):
            chosen = records[start:start + batch]
            store.fold(part, [(dict(r), encode("run_status", r) if from_bytes else None) for r in chosen], start, start + len(chosen))


def answers(world: RecordingWorld, ask) -> tuple:
    """What a question asked of the in-memory fold and of a store answers."""
    return ask(queries, in_memory(world))


class ProjectionStoreContract:
    """What every projections store must do. `make_store()` gives a fresh, migrated one."""

    def make_store(self) -> ProjectionStore:
        raise NotImplementedError

    @pytest.mark.parametrize("name", sorted(WORLDS))
    @pytest.mark.parametrize("batch", [1, 7, 10_000])
    def test_a_batched_fold_answers_what_the_in_memory_fold_answers(self, name, batch):
        world = WORLDS[name]()
        store = self.make_store()
        fold_into(store, world.partitions, batch, from_bytes=batch == 7)
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))

    @pytest.mark.parametrize("name", ["mixed", "waiting_and_cancelled", "two_schools"])
    def test_each_question_the_api_asks_is_answered_alike(self, name):
        world = WORLDS[name]()
        store = self.make_store()
        fold_into(store, world.partitions, 5)
        parts = in_memory(world)
        by_id = {a.id: a for a in getattr(world, "definitions", mixed_automations())}
        with store.connect() as conn:
            for school in ("s1", "s2"):
                for automation_id in ("welcome", "nurture", "renewal", "course-a"):
                    definition = by_id.get(automation_id)
                    for status in (None, "pending", "fulfilled", "cancelled"):
                        for limit in (None, 1, 4):
                            assert sql_queries.runs_of_automation(conn, school, automation_id, status, limit) == \
                                queries.runs_of_automation(parts, school, automation_id, status, limit)
                    assert sql_queries.waiting_by_step(conn, school, automation_id) == queries.waiting_by_step(parts, school, automation_id)
                    assert sql_queries.step_funnel(conn, school, automation_id, definition) == \
                        queries.step_funnel(parts, school, automation_id, definition)
                    assert sql_queries.stats_of(conn, school, automation_id).as_dict() == queries.stats_of(parts, school, automation_id).as_dict()
                for user in ("ada", "bob", "cy", "learner-3", "nobody"):
                    assert sql_queries.learner_history(conn, school, user) == queries.learner_history(parts, school, user)
                page = sql_queries.automations_page(conn, by_id.values(), school)
                assert page == queries.automations_page(parts, by_id.values(), school)

    def test_a_batch_folded_leaves_nothing_for_the_cyclic_collector(self):
        # A batch's state is freed by reference counting when the batch ends; a reference
        # cycle in it left all of it (8.5 MB a batch of 8,000 records) to the collector.
        world = mixed()
        store = self.make_store()
        fold_into(store, world.partitions, 3)  # connections, statements and types made once
        more = [[{**r, "at": r["at"] + timedelta(days=1)} for r in records] for records in world.partitions]
        gc.collect()
        gc.disable()
        try:
            for part, records in enumerate(more):
                store.fold(part, [(dict(r), None) for r in records], len(records), 2 * len(records))
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            left = {type(o).__module__ for o in gc.garbage}
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
        assert not {module for module in left if module.startswith("projections.")}

    def test_records_sent_again_in_a_later_batch_change_nothing(self):
        world = mixed()
        store = self.make_store()
        resent = [records + [dict(r) for r in records[: len(records) // 2]] for records in world.partitions]
        fold_into(store, resent, 4, from_bytes=True)
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))
        applied = sum(applied for applied, _ in store.counts().values())
        assert applied == sum(len(records) for records in world.partitions)

    def test_record_digests_are_kept_only_for_the_records_a_resend_can_follow(self):
        world = mixed()
        store = self.make_store()
        store.seen_kept = 10
        fold_into(store, world.partitions, 4, from_bytes=True)
        k = t.fold_keys.c
        with store.connect() as conn:
            for part, records in enumerate(world.partitions):
                kept = conn.execute(select(func.count()).where(k.part == part, k.until_offset.is_not(None))).scalar_one()
                assert kept <= min(len(records), 10 + 4)
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))

    def test_a_record_sent_again_after_its_digest_expired_changes_no_view(self):
        world = mixed()
        store = self.make_store()
        store.seen_kept = 2
        resent = [records + [dict(r) for r in records] for records in world.partitions]
        fold_into(store, resent, 4, from_bytes=True)
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))

    def test_runs_folded_before_their_decisions_moved_to_their_rows_still_refuse_them_again(self):
        """A database from before revision 0003: the runs' decisions are hashes in fold_keys."""
        from projections.sql_fold import KnownKeys, _run_decision

        world = decided_again()
        store = self.make_store()
        store.seen_kept = 1  # the re-sends below meet the decisions' keys, not the records' digests
        halves = [records[: len(records) // 2] for records in world.partitions]
        fold_into(store, halves, 3)
        with store.engine.begin() as conn:
            conn.execute(t.runs.update().values(decided=None))
            for part, views in enumerate(in_memory(SimpleNamespace(partitions=halves))):
                rows = [KnownKeys(b"decided", None).hashed(key) for key in views._decided if _run_decision(key)]
                rows += [KnownKeys(b"reached", None).hashed(key) for key in views._reached]
                if rows:
                    conn.execute(t.fold_keys.insert(), [{"part": part, "key": key} for key in rows])
        resent = [records + [dict(r) for r in records] for records in world.partitions]
        fold_into(store, resent, 3)
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))

    def test_a_fold_resumes_at_its_stored_offsets(self):
        world = mixed()
        store = self.make_store()
        halves = [records[: len(records) // 2] for records in world.partitions]
        fold_into(store, halves, 3)
        assert store.offsets() == {part: len(records) for part, records in enumerate(halves)}
        reopened = self.reopen(store)
        fold_into(reopened, world.partitions, 3)  # from the stored offsets on
        with reopened.connect() as conn:
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))

    def test_a_second_projector_cannot_move_an_offset_it_did_not_read(self):
        world = mixed()
        store = self.make_store()
        records = world.partitions[0]
        store.fold(0, [(dict(records[0]), None)], 0, 1)
        with pytest.raises(OffsetMoved):
            store.fold(0, [(dict(records[0]), None)], 0, 1)  # a zombie folding what was folded
        with pytest.raises(OffsetMoved):
            store.fold(1, [(dict(world.partitions[1][1]), None)], 1, 2)  # a start it never read
        assert store.offsets() == {0: 1}
        assert store.counts() == {0: (1, 0)}

    def test_two_projectors_folding_one_partition_at_once_count_it_once(self):
        import threading

        world = mixed()
        store = self.make_store()
        records = world.partitions[0]
        outcomes: list = []
        start = threading.Barrier(2)

        def fold(folder: ProjectionStore) -> None:
            start.wait()
            try:
                outcomes.append(folder.fold(0, [(dict(r), None) for r in records], 0, len(records)))
            except OffsetMoved:
                outcomes.append("refused")

        folders = [store, ProjectionStore(store.url)]
        threads = [threading.Thread(target=fold, args=(folder,)) for folder in folders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes, key=str) == sorted([len(records), "refused"], key=str)
        assert store.counts() == {0: (len(records), 0)}
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world)[:1])

    def test_an_answer_reads_one_snapshot_while_batches_commit(self):
        import threading

        world = mixed()
        store = self.make_store()
        with store.reading() as conn:
            before = sql_queries.stats_of(conn, "s1", "nurture").as_dict()
            # a projector commits every partition between two reads of one answer
            folding = threading.Thread(target=fold_into, args=(store, world.partitions, 100))
            folding.start()
            folding.join()
            assert sql_queries.stats_of(conn, "s1", "nurture").as_dict() == before
            assert sql_queries.runs_of_automation(conn, "s1", "nurture") == []
        with store.reading() as conn:
            assert sql_queries.stats_of(conn, "s1", "nurture").as_dict() == queries.stats_of(in_memory(world), "s1", "nurture").as_dict()

    def test_a_partition_is_rebuilt_alone_from_offset_zero(self):
        world = mixed()
        store = self.make_store()
        fold_into(store, world.partitions, 6)
        with store.connect() as conn:
            before = sql_queries.snapshot(conn)
        store.reset([1])
        assert set(store.offsets()) == {0, 2}
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) != before
        fold_into(store, world.partitions, 6)
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == before

    def test_migrating_again_keeps_the_rows(self):
        world = mixed()
        store = self.make_store()
        fold_into(store, world.partitions, 50)
        store.migrate()
        with store.connect() as conn:
            assert sql_queries.snapshot(conn) == queries.snapshot(in_memory(world))
            assert conn.execute(select(func.count()).select_from(t.runs)).scalar_one() > 0

    def test_no_answer_for_one_school_holds_another_schools_rows(self):
        world = two_schools()
        store = self.make_store()
        fold_into(store, world.partitions, 5)
        with store.connect() as conn:
            s2_runs = {row.run_id for row in conn.execute(select(t.runs.c.run_id).where(t.runs.c.school == "s2"))}
            s1_runs = {row.run_id for row in conn.execute(select(t.runs.c.run_id).where(t.runs.c.school == "s1"))}
            assert s1_runs and s2_runs
            for run_id in s1_runs:
                assert sql_queries.find_run(conn, run_id, "s2") is None
                assert sql_queries.find_run(conn, run_id, "s1").school == "s1"
            for school, others in (("s1", s2_runs), ("s2", s1_runs)):
                for automation_id in ("welcome", "nurture", "renewal", "course-a"):
                    listed = sql_queries.runs_of_automation(conn, school, automation_id)
                    assert all(run["school"] == school and run["run_id"] not in others for run in listed)
                for user in ("ada", "bob"):
                    history = sql_queries.learner_history(conn, school, user)
                    assert all(run["school"] == school for run in history["runs"])
            assert sql_queries.stats_of(conn, "s3", "welcome").as_dict()["times_executed"] == 0
            assert sql_queries.learner_history(conn, "s3", "ada") == {"school": "s3", "user": "ada", "runs": [], "not_started": []}

    def reopen(self, store: ProjectionStore) -> ProjectionStore:
        store.close()
        reopened = ProjectionStore(store.url)
        reopened.migrate()
        return reopened


class TestSQLiteStore(ProjectionStoreContract):
    @pytest.fixture(autouse=True)
    def _url(self, tmp_path):
        self.urls = iter(f"sqlite:///{tmp_path / f'projections-{n}.sqlite3'}" for n in range(100))

    def make_store(self) -> ProjectionStore:
        store = ProjectionStore(next(self.urls))
        store.migrate()
        return store


class TestPostgreSQLStore(ProjectionStoreContract):
    @pytest.fixture(autouse=True)
    def _url(self, postgres):
        self.postgres = postgres

    def make_store(self) -> ProjectionStore:
        store = ProjectionStore(self.postgres.create_database(f"contract_{next(_databases)}"))
        store.migrate()
        return store


_databases = iter(range(1_000_000))
