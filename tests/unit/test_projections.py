"""Projections of the run-status topic: given the engine's records, then the views.

The records come from the engine itself (`RecordingWorld`), so these tests
check the views against what the engine decided, not against hand-made data.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from engine.commands import AdvanceWaiting, CancelRun, FireTimer, HandleSchoolEvent, ReplayRun
from engine.school_events import SchoolEvent
from projections import queries
from projections.automation_stats import fold
from projections.partition import PartitionViews
from tests.unit.projection_world import T0, RecordingWorld, automation, mixed_automations, play_mixed_flow


def folded(world: RecordingWorld) -> list[PartitionViews]:
    parts = []
    for records in world.partitions:
        part = PartitionViews()
        for record in records:
            part.apply(record)
        parts.append(part)
    return parts


def mixed_world() -> RecordingWorld:
    world = RecordingWorld(mixed_automations())
    play_mixed_flow(world)
    return world


def test_times_executed_and_status_counts_match_the_engine_runs_and_skips_do_not_count():
    # given the mixed flow, when folded
    world = mixed_world()
    parts = folded(world)
    reports = world.report()
    # then every automation's figures are those of the runs the engine reported
    for automation_id in ("welcome", "nurture", "renewal"):
        runs = [r for r in reports if r.automation_id == automation_id]
        stats = queries.stats_of(parts, "s1", automation_id)
        assert stats.times_executed == len(runs), automation_id
        assert +stats.by_status == Counter(r.status for r in runs), automation_id
        assert stats.skipped == sum(1 for s in world.skipped if s.automation_id == automation_id)
    welcome = queries.stats_of(parts, "s1", "welcome")
    assert (welcome.times_executed, welcome.skipped) == (1, 1)
    nurture = queries.stats_of(parts, "s1", "nurture").as_dict()
    assert nurture["by_status"] == {"completed_via_exit": 1, "pending": 2}
    assert nurture["learners_inside"] == 2
    assert queries.stats_of(parts, "s1", "renewal").as_dict()["by_status"] == {"failed": 1}


def test_fold_of_all_records_keys_figures_by_school_and_automation():
    stats = fold(mixed_world().records)
    assert stats[("s1", "welcome")].times_executed == 1
    assert ("s2", "welcome") not in stats


def test_a_run_shows_every_step_the_exit_that_fired_and_the_error_of_a_failure():
    world = mixed_world()
    parts = folded(world)
    bob = next(r for r in world.report() if r.user == "bob")
    activity = queries.find_run(parts, bob.run_id).activity()
    assert [(s["step_id"], s["outcome"]) for s in activity["steps"]] == [("intro", "done"), ("pause", "waiting")]
    assert activity["status"] == "completed_via_exit" and activity["exit_id"] == "done"
    assert [c["matched"] for c in activity["trace"]["exit_checks"]] == [True]
    assert activity["trace"]["trigger"], "the trigger trace says why the run started"
    assert [h["status"] for h in activity["history"]] == ["executing", "pending", "completed_via_exit"]
    cy_failed = next(r for r in world.report() if r.automation_id == "renewal")
    failed = queries.find_run(parts, cy_failed.run_id).activity()
    assert failed["status"] == "failed" and "renew_on" in failed["error"]
    assert failed["replayable"] is True


def test_the_records_json_columns_render_as_the_json_they_hold():
    # given the views keep a record's traces and step details as its text (for memory)
    world = mixed_world()
    parts = folded(world)
    bob = next(r for r in world.report() if r.user == "bob")
    records = [r for r in world.records if r.get("run_id") == bob.run_id]
    # when the run's activity is rendered, then each column is the parsed JSON of its record
    activity = queries.find_run(parts, bob.run_id).activity()
    waited = next(r for r in records if r["kind"] == "step_recorded" and r["outcome"] == "waiting")
    assert activity["steps"][1]["detail"] == json.loads(waited["detail"]) and isinstance(activity["steps"][1]["detail"], dict)
    started = next(r for r in records if r["kind"] == "run_started")
    assert activity["trace"]["trigger"] == json.loads(started["trace_json"])
    (check,) = activity["trace"]["exit_checks"]
    assert check["trace"] == json.loads(next(r for r in records if r["kind"] == "exit_checked")["trace_json"])
    assert "trace_json" not in check and all("detail_json" not in step for step in activity["steps"])


def test_waiting_counts_per_step_while_learners_wait_and_after_an_advance():
    world = mixed_world()
    parts = folded(world)
    assert queries.waiting_by_step(parts, "s1", "nurture") == {"pause": 2}
    # when an operator advances everyone waiting in the step
    later = T0 + timedelta(hours=1)
    world.broadcast(AdvanceWaiting(automation_id="nurture", step_id="pause", command_id="adv-1"), "s1", later)
    parts = folded(world)
    # then nobody waits there, and the funnel says how long they spent there
    assert queries.waiting_by_step(parts, "s1", "nurture") == {}
    automation = next(a for a in mixed_automations() if a.id == "nurture")
    funnel = {row["step_id"]: row for row in queries.step_funnel(parts, "s1", "nurture", automation)}
    assert [row for row in funnel] == ["intro", "pause", "nudge"]
    pause = funnel["pause"]
    assert pause["reached"] == 3 and pause["waiting_now"] == 0 and pause["left_after_waiting"] == 3
    assert pause["outcomes"] == {"advanced": 2, "waiting": 3}
    assert pause["longest_wait_seconds"] == (later - (T0 + timedelta(minutes=2))).total_seconds()
    assert funnel["nudge"]["reached"] == 2


def test_replaying_a_failed_run_links_the_new_run_to_it():
    world = mixed_world()
    failed = next(r for r in world.report() if r.status == "failed")
    world.send(ReplayRun(run_id=failed.run_id, command_id="c-1"), "s1", failed.user, T0 + timedelta(hours=1))
    parts = folded(world)
    original = queries.find_run(parts, failed.run_id)
    (new_id,) = original.replayed_by
    assert queries.find_run(parts, new_id).replay_of == failed.run_id
    assert queries.stats_of(parts, "s1", "renewal").times_executed == 2


def test_a_learner_history_says_why_a_trigger_started_no_run():
    parts = folded(mixed_world())
    history = queries.learner_history(parts, "s1", "ada")
    assert sorted(r["automation_id"] for r in history["runs"]) == ["nurture", "welcome"]
    (skip,) = history["not_started"]
    assert (skip["kind"], skip["automation_id"], skip["event_id"]) == ("skipped", "welcome", "t3")
    assert "60 s" in skip["reason"]


def test_views_are_scoped_by_school():
    world = mixed_world()
    parts = folded(world)
    run = world.report()[0]
    assert queries.find_run(parts, run.run_id, school="s2") is None
    assert queries.find_run(parts, run.run_id, school="s1") is not None
    assert queries.automations_page(parts, mixed_automations(), "s2") == []
    assert queries.runs_of_automation(parts, "s2", run.automation_id) == []
    assert queries.learner_history(parts, "s2", run.user)["runs"] == []


def test_automations_page_searches_names_and_filters_by_status_and_group():
    parts = folded(mixed_world())
    automations = [a.model_copy(update={"status": "active"}) for a in mixed_automations()]
    automations[2] = automations[2].model_copy(update={"status": "inactive"})
    page = queries.automations_page(parts, automations, "s1", search="COURSE")
    assert [row["id"] for row in page] == ["nurture"] and page[0]["times_executed"] == 3
    assert [r["id"] for r in queries.automations_page(parts, automations, "s1", group="onboarding")] == [
        "nurture", "welcome"
    ]
    assert [r["id"] for r in queries.automations_page(parts, automations, "s1", status="inactive")] == ["renewal"]


def test_runs_list_filters_by_status_newest_first():
    parts = folded(mixed_world())
    pending = queries.runs_of_automation(parts, "s1", "nurture", status="pending")
    assert [r["user"] for r in pending] == ["cy", "ada"]
    assert all(r["status"] == "pending" for r in pending)


def test_an_input_decided_again_after_its_state_was_lost_changes_no_view():
    # given inputs that start runs that wait, skip an entry (60 s), decline one and resume a run
    gated = automation("gated", {"event": "course.enrolled", "conditions": [{"type": "has_tag", "tag": "vip"}]},
                       [{"id": "a", "type": "send_email", "template": "x"}])
    twice = automation("twice", {"event": "course.enrolled"}, [
        {"id": "w1", "type": "wait_duration", "amount": 1, "unit": "days"},
        {"id": "m1", "type": "send_email", "template": "one"},
        {"id": "w2", "type": "wait_duration", "amount": 1, "unit": "days"},
        {"id": "m2", "type": "send_email", "template": "two"},
    ])

    def world(decided_again: set[str], resume: bool) -> RecordingWorld:
        made = RecordingWorld(mixed_automations() + [gated, twice])

        def decide(name, command, now):
            before = dict(made.states)
            made.send(command, "s1", "ada", now)
            if name in decided_again:  # the state's changelog record was lost: the same decision, seconds later
                made.states = before
                made.send(command, "s1", "ada", now + timedelta(seconds=3))

        made.event("r-ada", "user.registered", "ada", 0, email="a@example.org", fields={})
        made.event("t1", "user.tag_added", "ada", 1, tag="new")
        made.event("t2", "user.tag_removed", "ada", 1.1, tag="new")
        for event_id, type_, minutes, data in [("t3", "user.tag_added", 1.2, {"tag": "new"}),
                                               ("e1", "course.enrolled", 5, {"course": "py"})]:
            event = SchoolEvent(id=event_id, type=type_, school="s1", user="ada",
                                occurred_at=T0 + timedelta(minutes=minutes), data=data)
            decide(event_id, HandleSchoolEvent(event=event), event.occurred_at)
        if resume:  # the first wait's timer: an email, then the second wait
            timer = next(run.timer for run in made.states["s1:ada"].runs.values() if run.automation_id == "twice")
            decide("timer", FireTimer(timer=timer), timer.due_at)
        return made

    for again, resume in [({"t3", "e1"}, False), ({"timer"}, True)]:
        once, twice_decided = world(set(), resume), world(again, resume)

        assert len(twice_decided.records) > len(once.records), "the decisions were recorded twice"
        assert queries.snapshot(folded(twice_decided)) == queries.snapshot(folded(once)), again
        assert queries.waiting_by_step(folded(twice_decided), "s1", "twice") == {"w2" if resume else "w1": 1}


def test_an_event_that_started_a_run_is_not_also_a_missed_entry():
    welcome = automation("welcome", {"event": "user.tag_added", "tag": "new"}, [{"id": "hello", "type": "send_email", "template": "hi"}])
    # given the platform sends one event twice (the same id): a run, then "changed nothing"
    resent = RecordingWorld([welcome])
    resent.event("t1", "user.tag_added", "ada", 0, tag="new")
    resent.event("t1", "user.tag_added", "ada", 0.5, tag="new")
    # and an event skipped by the 60-second rule, decided again after a crash lost the
    # state, 90 s later: then it starts a run
    redecided = RecordingWorld([welcome])
    redecided.event("t1", "user.tag_added", "ada", 0, tag="new")
    redecided.event("t2", "user.tag_removed", "ada", 0.2, tag="new")
    t3 = SchoolEvent(id="t3", type="user.tag_added", school="s1", user="ada", occurred_at=T0 + timedelta(seconds=24), data={"tag": "new"})
    before = dict(redecided.states)
    redecided.send(HandleSchoolEvent(event=t3), "s1", "ada", t3.occurred_at)
    redecided.states = before
    redecided.send(HandleSchoolEvent(event=t3), "s1", "ada", t3.occurred_at + timedelta(seconds=90))
    assert [r["kind"] for r in redecided.records if r["kind"] in ("run_started", "run_skipped")] == ["run_started", "run_skipped", "run_started"]
    assert [r["kind"] for r in resent.records if r["kind"] in ("run_started", "entry_declined")] == ["run_started", "entry_declined"]
    for world, runs in ((resent, 1), (redecided, 2)):
        # when folded, then every event that started a run is a run and nothing else
        parts = folded(world)
        stats = queries.stats_of(parts, "s1", "welcome")
        assert (stats.times_executed, stats.skipped, stats.declined) == (runs, 0, 0)
        assert queries.learner_history(parts, "s1", "ada")["not_started"] == []


def test_a_run_older_than_the_learners_last_50_finished_runs_is_not_replayable():
    from api.commands import replay_refusal
    from engine.decider import decide
    from engine.runs import RECENT_FINISHED_KEPT

    # given a learner with more than twice as many finished runs as the engine keeps
    praise = automation("praise", {"event": "lesson.completed"}, [{"id": "m", "type": "send_email", "template": "well-done"}])
    world = RecordingWorld([praise])
    for n in range(2 * RECENT_FINISHED_KEPT + 5):
        world.event(f"l{n}", "lesson.completed", "ada", 2 * n, course="py", lesson=f"l{n}")
    parts = folded(world)
    runs = sorted((queries.find_run(parts, run_id) for part in parts for run_id in part.runs), key=lambda r: r.started_at)
    forgotten, kept = runs[:-RECENT_FINISHED_KEPT], runs[-RECENT_FINISHED_KEPT:]
    later = T0 + timedelta(days=1)
    # then the view and the API refuse what the engine refuses, and offer what it takes
    for run in (forgotten[0], forgotten[-1]):
        refused = decide(ReplayRun(run_id=run.run_id, command_id="c1"), world.states["s1:ada"], world.catalog, later)
        assert refused.reason.endswith("is not known for learner s1:ada")
    assert not any(run.activity()["replayable"] for run in forgotten)
    assert "last 50 finished runs" in replay_refusal(forgotten[-1], praise)
    assert isinstance(decide(ReplayRun(run_id=kept[0].run_id, command_id="c1"), world.states["s1:ada"], world.catalog, later), list)
    assert all(run.activity()["replayable"] for run in kept) and replay_refusal(kept[0], praise) is None


def test_learners_inside_and_waiting_count_each_learner_once_however_many_runs_they_have():
    nurture = automation("nurture", {"event": "course.enrolled"}, [
        {"id": "m", "type": "send_email", "template": "intro"},
        {"id": "w", "type": "wait_duration", "amount": 2, "unit": "days"},
        {"id": "n", "type": "send_email", "template": "nudge"},
    ])
    # given one learner enrolled in three courses (three runs waiting) and another in one
    world = RecordingWorld([nurture])
    for n, course in enumerate(["py", "js", "go"]):
        world.event(f"e{n}", "course.enrolled", "ada", 5 * n, course=course)
    world.event("b0", "course.enrolled", "bob", 20, course="py")
    parts = folded(world)
    stats = queries.stats_of(parts, "s1", "nurture").as_dict()
    # then runs are counted as runs, and learners as learners
    assert (stats["times_executed"], stats["by_status"], stats["learners_inside"]) == (4, {"pending": 4}, 2)
    assert queries.waiting_by_step(parts, "s1", "nurture") == {"w": 2}
    funnel = {row["step_id"]: row for row in queries.step_funnel(parts, "s1", "nurture", nurture)}
    assert (funnel["w"]["reached"], funnel["w"]["waiting_now"]) == (4, 2)
    # when two of ada's runs are cancelled, she is still inside and waiting, once
    for run_id in sorted(r for part in parts for r in part.runs if part.runs[r].user == "ada")[:2]:
        world.send(CancelRun(run_id=run_id, command_id=f"c-{run_id}"), "s1", "ada", T0 + timedelta(hours=1))
    parts = folded(world)
    assert queries.stats_of(parts, "s1", "nurture").as_dict()["learners_inside"] == 2
    assert queries.waiting_by_step(parts, "s1", "nurture") == {"w": 2}
    # and when bob's run ends, only ada is
    world.send(CancelRun(run_id=next(r for p in parts for r in p.runs if p.runs[r].user == "bob"), command_id="c-b"),
               "s1", "bob", T0 + timedelta(hours=1))
    parts = folded(world)
    assert queries.stats_of(parts, "s1", "nurture").as_dict()["learners_inside"] == 1
    assert queries.waiting_by_step(parts, "s1", "nurture") == {"w": 1}


def test_runs_lists_merge_the_partitions_newest_first_also_after_a_clock_went_back():
    # given runs of one automation in every partition, one started by a worker whose clock
    # was behind (after a failover: its start is folded after later ones)
    nurture = automation("nurture", {"event": "course.enrolled"}, [{"id": "w", "type": "wait_duration", "amount": 2, "unit": "days"}])
    world = RecordingWorld([nurture])
    for n in range(12):
        world.event(f"e{n}", "course.enrolled", f"learner-{n}", 7 * n, course="py")
    for n in range(3):  # a start at minute 20-22, folded after those up to minute 77
        world.event(f"late-{n}", "course.enrolled", f"late-learner-{n}", 20 + n, course="js")
    parts = folded(world)
    everything = sorted((run for part in parts for run in part.runs.values()), key=lambda r: (r.started_at, r.run_id), reverse=True)
    assert len(everything) == 15 and all(part.runs for part in parts)
    # then every list is the newest first, cut at its limit, and filtered by status
    assert [r["run_id"] for r in queries.runs_of_automation(parts, "s1", "nurture")] == [r.run_id for r in everything]
    assert [r["run_id"] for r in queries.runs_of_automation(parts, "s1", "nurture", limit=4)] == [r.run_id for r in everything[:4]]
    assert queries.runs_of_automation(parts, "s1", "nurture", status="fulfilled") == []
    assert len(queries.runs_of_automation(parts, "s1", "nurture", status="pending", limit=5)) == 5


def test_records_sent_again_byte_for_byte_change_nothing_when_folded_from_their_bytes(tmp_path):
    from processors.kafka_io import Record
    from projections import sql_queries
    from projections.projector import Projector
    from projections.store import ProjectionStore
    from schemas.codec import encode

    # given the API's projector folding the topic's bytes, every record of the mixed flow twice
    world = mixed_world()
    stores = {name: ProjectionStore(f"sqlite:///{tmp_path / name}.sqlite3") for name in ("once", "twice")}
    for store in stores.values():
        store.migrate()
    once, twice = Projector(stores["once"]), Projector(stores["twice"])
    for partition, records in enumerate(world.partitions):
        values = [encode("run_status", record) for record in records]
        once.fold(partition, [Record("run-status", partition, offset, None, value, 0) for offset, value in enumerate(values)])
        twice.fold(partition, [Record("run-status", partition, 2 * offset + again, None, value, 0)
                               for offset, value in enumerate(values) for again in (0, 1)])
    # then the copies changed nothing, and the views are those of the records' dicts
    snapshots = {}
    for name, store in stores.items():
        with store.connect() as conn:
            snapshots[name] = sql_queries.snapshot(conn)
    assert snapshots["twice"] == snapshots["once"] == queries.snapshot(folded(world))
    applied = {name: sum(a for a, _ in store.counts().values()) for name, store in stores.items()}
    assert applied["twice"] == applied["once"] > 0
