"""Operator actions on the real broker: waiting counts and advance, replay, rebuild, reprocessing."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from engine.school_events import SchoolEvent
from tests.integration.api_harness import ROOT
from tests.integration.test_api import start_api  # noqa: F401 - the fixture
from tests.unit.projection_world import automation, mixed_automations

pytestmark = pytest.mark.integration


def event(event_id, type_, user, at, **data) -> SchoolEvent:
    return SchoolEvent(id=event_id, type=type_, school="s1", user=user, occurred_at=at, data=data)


def waiting(api) -> dict:
    return api.school("s1", "GET", "/automations/nurture/steps")[1]["waiting"]


def test_waiting_counts_per_step_while_learners_wait_and_after_an_advance(start_worker, start_api):
    worker = start_worker()
    for definition in mixed_automations():
        worker.save_and_activate(definition)
    api = start_api(worker)
    t = datetime.now(timezone.utc) + timedelta(seconds=1)
    users = ["ann", "ben", "cat"]
    worker.send([event(f"e-{u}", "course.enrolled", u, t, course="py") for u in users])
    assert api.eventually(lambda: waiting(api), lambda w: w == {"pause": 3}) == {"pause": 3}
    shown = api.cli("steps", "waiting", "nurture")
    assert shown.returncode == 0 and "pause" in shown.stdout, shown.stderr

    advanced = api.cli("steps", "advance", "nurture", "pause")

    assert advanced.returncode == 0 and "3 learner(s) waiting" in advanced.stdout, advanced.stderr
    api.eventually(lambda: waiting(api), lambda w: w == {})
    steps = {s["step_id"]: s for s in api.school("s1", "GET", "/automations/nurture/steps")[1]["steps"]}
    assert steps["pause"]["outcomes"] == {"advanced": 3, "waiting": 3} and steps["pause"]["left_after_waiting"] == 3
    actions = worker.wait_for("actions", lambda rs: sum(a["template"] == "nudge" for a in rs) == 3)
    assert sorted(a["user"] for a in actions if a["template"] == "nudge") == users
    # the step stays: a learner arriving now waits there again
    worker.send([event("e-dan", "course.enrolled", "dan", t + timedelta(seconds=5), course="py")])
    api.eventually(lambda: waiting(api), lambda w: w == {"pause": 1})
    refused = api.cli("steps", "advance", "nurture", "intro")
    assert refused.returncode == 1 and "not a wait" in refused.stderr
    status, answer = api.school("s1", "POST", "/automations/nurture/steps/intro/advance")
    assert status == 409 and "not a wait" in answer["error"], "the step is there; nobody waits in it"
    assert api.school("s1", "POST", "/automations/nurture/steps/no-such-step/advance")[0] == 404
    # cancelling dan's pending run takes him out of the step
    (dan,) = api.school("s1", "GET", "/automations/nurture/runs?status=pending")[1]["runs"]
    assert api.school("s1", "POST", f"/runs/{dan['run_id']}/cancel")[0] == 202
    api.eventually(lambda: waiting(api), lambda w: w == {})
    assert api.school("s1", "GET", f"/runs/{dan['run_id']}")[1]["status"] == "cancelled"
    assert api.school("s1", "POST", f"/runs/{dan['run_id']}/cancel")[0] == 409


def test_replaying_a_failed_run_creates_a_linked_new_run(start_worker, start_api):
    worker = start_worker()
    for definition in mixed_automations():
        worker.save_and_activate(definition)
    api = start_api(worker)
    t = datetime.now(timezone.utc) + timedelta(seconds=1)
    worker.send([
        event("r-eve", "user.registered", "eve", t, email="eve@example.org", fields={}),
        event("x1", "certificate.issued", "eve", t + timedelta(seconds=1), certificate="c", course="py"),
        event("e1", "course.enrolled", "eve", t + timedelta(seconds=2), course="py"),
        event("c1", "course.completed", "eve", t + timedelta(seconds=3), course="py"),
    ])
    failed = api.eventually(lambda: api.school("s1", "GET", "/automations/renewal/runs?status=failed")[1]["runs"], bool)[0]
    exited = api.eventually(
        lambda: api.school("s1", "GET", "/automations/nurture/runs?status=completed_via_exit")[1]["runs"], bool)[0]

    status, answer = api.school("s1", "POST", f"/runs/{failed['run_id']}/replay")

    assert status == 202, answer
    new_id = answer["new_run_id"]
    replay = api.eventually(lambda: api.school("s1", "GET", f"/runs/{new_id}"), lambda r: r[0] == 200)[1]
    assert replay["replay_of"] == failed["run_id"] and replay["automation_id"] == "renewal"
    original = api.school("s1", "GET", f"/runs/{failed['run_id']}")[1]
    assert original["replayed_by"] == [new_id] and original["status"] == "failed"
    # a run that ended via its exit condition is not replayable
    status, answer = api.school("s1", "POST", f"/runs/{exited['run_id']}/replay")
    assert status == 409 and "completed_via_exit" in answer["error"]
    # the CLI replays too, and names the new run
    by_cli = api.cli("runs", "replay", failed["run_id"])
    assert by_cli.returncode == 0 and "the new run will be run-" in by_cli.stdout, by_cli.stderr
    shown = api.cli("runs", "show", new_id)
    assert shown.returncode == 0 and f"replay of: {failed['run_id']}" in shown.stdout, shown.stderr
    # a finishing automation takes no new runs, replays included (the engine would refuse it)
    worker.send([event("e2", "course.enrolled", "fay", t + timedelta(seconds=4), course="py")])
    pending = api.eventually(
        lambda: api.school("s1", "GET", "/automations/nurture/runs?status=pending")[1]["runs"], bool)[0]
    assert api.school("s1", "GET", f"/runs/{pending['run_id']}")[1]["replayable"] is True
    deleted = api.cli("delete", "nurture", "--finishing", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    api.eventually(lambda: api.school("s1", "GET", f"/runs/{pending['run_id']}")[1]["replayable"], lambda r: r is False)
    status, answer = api.school("s1", "POST", f"/runs/{pending['run_id']}/replay")
    assert status == 409 and "finishing" in answer["error"], answer
    by_cli = api.cli("runs", "replay", pending["run_id"])
    assert by_cli.returncode == 1 and "finishing" in by_cli.stderr, by_cli.stdout + by_cli.stderr


def snapshot(api) -> dict:
    status, body = api.operator("GET", "/operator/projections/snapshot")
    assert status == 200
    return body


def play(worker, t: datetime) -> None:
    worker.send([
        event("r-ada", "user.registered", "ada", t, email="ada@example.org", fields={}),
        event("t1", "user.tag_added", "ada", t + timedelta(seconds=1), tag="new"),
        event("t2", "user.tag_removed", "ada", t + timedelta(seconds=2), tag="new"),
        event("t3", "user.tag_added", "ada", t + timedelta(seconds=3), tag="new"),
        event("e1", "course.enrolled", "ada", t + timedelta(seconds=4), course="py"),
        event("e2", "course.enrolled", "bob", t + timedelta(seconds=4), course="py"),
        event("c2", "course.completed", "bob", t + timedelta(seconds=5), course="py"),
        event("x1", "certificate.issued", "bob", t + timedelta(seconds=6), certificate="c", course="py"),
    ])


def test_dropping_the_views_and_replaying_run_status_rebuilds_identical_views(start_worker, start_api):
    worker = start_worker()
    for definition in mixed_automations():
        worker.save_and_activate(definition)
    api = start_api(worker)
    play(worker, datetime.now(timezone.utc) + timedelta(seconds=1))
    worker.wait_for("run_status", lambda rs: sum(r.get("status") in ("failed", "completed_via_exit") for r in rs) == 2)
    total = len(worker.records("run_status"))
    api.eventually(lambda: api.operator("GET", "/operator/projections")[1], lambda s: s["position"] == total)
    before = snapshot(api)
    assert len(before["runs"]) == 4

    rebuilt = api.cli("partitions", "replay", "--topic", "run-status", "--timeout", "60")

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "records/s" in rebuilt.stdout and "projections rebuilt" in rebuilt.stdout
    assert snapshot(api) == before
    # one partition alone
    assert api.cli("partitions", "replay", "--topic", "run-status", "--partition", "1").returncode == 0
    assert snapshot(api) == before
    # the state deleted outright: a new server process folds the topic from offset 0
    api.stop()
    api.start()
    assert snapshot(api) == before
    refused = api.cli("partitions", "replay", "--topic", "run-status", "--from-offset", "3")
    assert refused.returncode == 1 and "from its start" in refused.stderr


def test_reprocessing_school_events_from_offset_0_creates_no_duplicate_runs_or_action_keys(start_worker, start_api):
    worker = start_worker(partitions=2)
    for definition in mixed_automations():
        worker.save_and_activate(definition)
    worker.save_and_activate(automation("thanks", {"event": "lesson.completed"}, [{"id": "mail", "type": "send_email", "template": "thx"}]))
    # a goal that an old lesson would reach if it were decided again against today's runs
    worker.save_and_activate(automation(
        "coach", {"event": "course.enrolled", "course": "js"},
        [{"id": "tip", "type": "send_email", "template": "tip"}, {"id": "rest", "type": "wait_duration", "amount": 2, "unit": "days"},
         {"id": "tip-2", "type": "send_email", "template": "tip-2"}],
        exits=[{"id": "studied", "event": "lesson.completed", "course": "js"}]))
    api = start_api(worker)
    t = datetime.now(timezone.utc) + timedelta(seconds=1)
    play(worker, t)
    # a learner with more inputs than the worker keeps outputs for: the early ones can
    # no longer be sent again, and are recognised as decided instead
    lessons = [("js", "l0")] + [("py", f"l{n}") for n in range(1, 37)]
    for n, (course, lesson) in enumerate(lessons):
        worker.send([event(lesson, "lesson.completed", "zed", t + timedelta(seconds=10 + n), course=course, lesson=lesson)],
                    want_receipts=True)
        worker.wait_for("receipts", lambda rs, lesson=lesson: any(r["event_id"] == lesson for r in rs))
        worker.clock(advance_seconds=61)
    worker.send([event("js", "course.enrolled", "zed", t + timedelta(seconds=60), course="js")])
    worker.wait_for("run_status", lambda rs: sum(r["kind"] == "run_started" for r in rs) == 4 + 37 + 2)  # coach and nurture
    (coach,) = {r["run_id"] for r in worker.records("run_status") if r["automation_id"] == "coach"}
    before_runs = Counter(r["run_id"] for r in worker.records("run_status") if r["kind"] == "run_started")
    before_keys = {a["idempotency_key"] for a in worker.records("actions")}
    page_before = api.eventually(lambda: api.school("s1", "GET", "/automations")[1]["automations"],
                                 lambda rows: sum(r["times_executed"] for r in rows) == 43)
    worker.stop()

    follower = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "partitions", "replay", "--topic", "school-events",
         "--from-offset", "0", "--follow", "--timeout", "120"],
        env={**api.env(), "COLUMNS": "200"}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_line(follower, "moved back")
        worker.start()
        out, err = follower.communicate(timeout=150)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert "reprocessed" in out
    # zed's next input comes after every reprocessed one of his
    worker.clock(advance_seconds=61)
    worker.send([event("probe", "lesson.completed", "zed", t + timedelta(seconds=90), course="py", lesson="l99")])
    worker.wait_for("run_status", lambda rs: any(r["kind"] == "run_started" and r["trigger_event_id"] == "probe" for r in rs))

    after = worker.records("run_status")
    after_runs = Counter(r["run_id"] for r in after if r["kind"] == "run_started" and r["trigger_event_id"] != "probe")
    assert worker.metrics()[("automations_inputs_decided_before_total", ())] >= 37, \
        "the events were read again, and each learner recognised what it had decided"
    assert after_runs == before_runs, "no run started again, and no new run ids"
    new_keys = {a["idempotency_key"] for a in worker.records("actions")} - before_keys
    assert len(new_keys) == 1, "no new action keys but the probe's"
    coach_statuses = [r["status"] for r in after if r["run_id"] == coach and r["kind"] == "run_status_changed"]
    assert coach_statuses[-1] == "pending", f"the old js lesson ended today's coach run: {coach_statuses}"
    page_after = api.eventually(lambda: api.school("s1", "GET", "/automations")[1]["automations"],
                                lambda rows: sum(r["times_executed"] for r in rows) == 44, timeout=30)
    assert [r for r in page_after if r["id"] != "thanks"] == [r for r in page_before if r["id"] != "thanks"]


def _wait_for_line(process: subprocess.Popen, text: str) -> None:
    for line in process.stdout:
        if text in line:
            return
    raise AssertionError(f"the command ended without saying {text!r}: {process.stderr.read()}")
