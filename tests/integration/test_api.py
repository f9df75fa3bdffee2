"""The HTTP API on the real broker: figures, ingest (sync and async), school scoping."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from api.app import ROUTES
from engine.school_events import SchoolEvent
from engine import values
from tests.integration.api_harness import OPERATOR_TOKEN, ApiServer
from tests.unit.projection_world import automation, mixed_automations

pytestmark = pytest.mark.integration


@pytest.fixture
def start_api(tmp_path):
    started: list[ApiServer] = []

    def start(worker, schools=("s1",), **options) -> ApiServer:
        folder = tmp_path / f"api{len(started)}"
        folder.mkdir()
        server = ApiServer(worker, folder, list(schools), **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def event(event_id, type_, user, at, school="s1", **data) -> SchoolEvent:
    return SchoolEvent(id=event_id, type=type_, school=school, user=user, occurred_at=at, data=data)


def as_json(e: SchoolEvent) -> dict:
    return values.as_json(e)


def engine_figures(records: list[dict]) -> dict[str, tuple[int, Counter, int]]:
    """From the worker's own run-status records: (runs started, runs by status, skips) per automation."""
    status: dict[str, tuple[str, str]] = {}
    skips: Counter = Counter()
    for r in records:
        if r["kind"] == "run_started":
            status.setdefault(r["run_id"], (r["automation_id"], "executing"))
        elif r["kind"] == "run_status_changed":
            status[r["run_id"]] = (status[r["run_id"]][0], r["status"])
        elif r["kind"] == "run_skipped":
            skips[r["automation_id"]] += 1
    figures = {}
    for automation_id in {a for a, _ in status.values()} | set(skips):
        runs = [s for a, s in status.values() if a == automation_id]
        figures[automation_id] = (len(runs), Counter(runs), skips[automation_id])
    return figures


def test_times_executed_and_status_counts_match_the_runs_of_a_mixed_flow(start_worker, start_api):
    worker = start_worker()
    for definition in mixed_automations():
        worker.save_and_activate(definition)
    api = start_api(worker)
    t = datetime.now(timezone.utc) + timedelta(seconds=1)
    worker.send([
        event("r-ada", "user.registered", "ada", t, email="ada@example.org", fields={}),
        event("r-bob", "user.registered", "bob", t, email="bob@example.org", fields={}),
        event("t1", "user.tag_added", "ada", t + timedelta(seconds=1), tag="new"),
        event("t2", "user.tag_removed", "ada", t + timedelta(seconds=2), tag="new"),
        event("t3", "user.tag_added", "ada", t + timedelta(seconds=3), tag="new"),  # within 60 s: skipped
        event("e1", "course.enrolled", "ada", t + timedelta(seconds=4), course="py"),
        event("e2", "course.enrolled", "bob", t + timedelta(seconds=4), course="py"),
        event("c2", "course.completed", "bob", t + timedelta(seconds=5), course="py"),
        event("x1", "certificate.issued", "bob", t + timedelta(seconds=6), certificate="c", course="py"),
    ])
    records = worker.wait_for("run_status", lambda rs: sum(r["kind"] == "run_started" for r in rs) >= 4
                              and any(r.get("status") == "failed" for r in rs)
                              and any(r.get("status") == "completed_via_exit" for r in rs))
    expected = engine_figures(records)
    assert expected["welcome"][2] == 1, "the mixed flow has a skip"

    def page():
        return {row["id"]: row for row in api.school("s1", "GET", "/automations")[1]["automations"]}

    rows = api.eventually(page, lambda rows: all(
        rows[a]["times_executed"] == expected[a][0] and rows[a]["by_status"] == dict(expected[a][1]) for a in expected))
    for automation_id, (started, by_status, skipped) in expected.items():
        assert rows[automation_id]["times_executed"] == started
        assert rows[automation_id]["skipped"] == skipped
        assert rows[automation_id]["status"] == "active" and rows[automation_id]["last_edited_at"]
    assert rows["welcome"]["times_executed"] == 1  # the skip is not a run
    assert rows["nurture"]["by_status"] == {"completed_via_exit": 1, "pending": 1}
    assert [r["id"] for r in api.school("s1", "GET", "/automations?search=renew")[1]["automations"]] == ["renewal"]
    assert [r["id"] for r in api.school("s1", "GET", "/automations?group=courses")[1]["automations"]] == ["nurture"]
    failed = api.school("s1", "GET", "/automations/renewal/runs?status=failed")[1]["runs"]
    (run,) = failed
    activity = api.school("s1", "GET", f"/runs/{run['run_id']}")[1]
    assert "renew_on" in activity["error"] and [s["step_id"] for s in activity["steps"]] == ["notice", "until-expiry"]
    history = api.school("s1", "GET", "/learners/ada/runs")[1]
    assert [n["event_id"] for n in history["not_started"]] == ["t3"]
    listed = api.cli("runs", "list", "--automation", "nurture")
    assert listed.returncode == 0 and "completed_via_exit" in listed.stdout, listed.stderr


def test_sync_ingest_answers_with_runs_and_actions_and_async_once_durable(start_worker, start_api):
    worker = start_worker()
    worker.save_and_activate(automation(
        "signup-tag", {"event": "user.tag_added", "tag": "signup-a"},
        [{"id": "unlock", "type": "enroll_in_course", "course": "a-101"}, {"id": "mark", "type": "add_tag", "tag": "unlocked"}],
        mode="synchronous"))
    worker.save_and_activate(automation(
        "later-mail", {"event": "course.completed"}, [{"id": "mail", "type": "send_email", "template": "bravo"}]))
    api = start_api(worker)
    t = datetime.now(timezone.utc) + timedelta(seconds=1)
    registered = event("r1", "user.registered", "kim", t, email="kim@example.org", fields={})

    status, body = api.school("s1", "POST", "/events", [as_json(registered)])
    assert status == 202 and body["event_ids"] == ["r1"]

    tagged = event("g1", "user.tag_added", "kim", t + timedelta(seconds=1), tag="signup-a")
    status, body = api.school("s1", "POST", "/events", as_json(tagged))
    assert status == 200, body
    (answer,) = body["events"]
    assert [(r["automation_id"], r["mode"], r["status"]) for r in answer["runs"]] == [("signup-tag", "synchronous", "fulfilled")]
    assert [(a["type"], a.get("course") or a.get("tag")) for a in answer["actions"]] == [
        ("enroll_in_course", "a-101"), ("add_tag", "unlocked")]

    status, body = api.school("s1", "POST", "/events", as_json(event("c1", "course.completed", "kim", t + timedelta(seconds=2), course="x")))
    assert status == 202  # only an asynchronous automation listens to it

    bad = [as_json(registered) | {"id": ""}, {"id": "z", "type": "no.such", "school": "s1", "user": "u",
                                               "occurred_at": t.isoformat()}, as_json(registered) | {"school": "s2"}]
    status, body = api.school("s1", "POST", "/events", bad)
    assert status == 400 and [p["index"] for p in body["problems"]] == [0, 1, 2]
    assert "s2" in body["problems"][2]["reason"]
    assert api.school("s1", "POST", "/events", None)[0] == 400
    sent = [e for e in worker.records("receipts")]
    assert [r["event_id"] for r in sent] == ["g1"], "only the synchronous event asked for a receipt"


def test_sync_ingest_waits_for_a_synchronous_automation_that_a_derived_event_starts(start_worker, start_api):
    worker = start_worker()
    worker.save_and_activate(automation(
        "signup-tag", {"event": "user.tag_added", "tag": "signup-a"},
        [{"id": "unlock", "type": "enroll_in_course", "course": "a-101"}], mode="synchronous"))
    worker.save_and_activate(automation(
        "tag-on-signup", {"event": "user.registered"}, [{"id": "mark", "type": "add_tag", "tag": "signup-a"}]))
    api = start_api(worker)
    registered = event("r1", "user.registered", "kim", datetime.now(timezone.utc) + timedelta(seconds=1),
                       email="kim@example.org", fields={})

    status, body = api.school("s1", "POST", "/events", as_json(registered))

    assert status == 200, body
    (answer,) = body["events"]
    assert [(r["automation_id"], r["mode"], r["status"]) for r in answer["runs"]] == [
        ("tag-on-signup", "asynchronous", "fulfilled"), ("signup-tag", "synchronous", "fulfilled")]
    assert [(a["type"], a.get("tag") or a.get("course")) for a in answer["actions"]] == [
        ("add_tag", "signup-a"), ("enroll_in_course", "a-101")]


def test_sync_ingest_times_out_with_504_when_no_worker_answers(start_worker, start_api):
    worker = start_worker()
    worker.save_and_activate(automation(
        "signup-tag", {"event": "user.tag_added"}, [{"id": "mark", "type": "add_tag", "tag": "x"}], mode="synchronous"))
    api = start_api(worker, sync_timeout=1.5)
    worker.stop()
    tagged = event("g1", "user.tag_added", "kim", datetime.now(timezone.utc) + timedelta(seconds=1), tag="any")
    status, body = api.school("s1", "POST", "/events", as_json(tagged))
    assert status == 504 and body["waiting_for"] == ["g1"]


def test_a_school_token_never_sees_another_schools_automations_runs_or_learners(start_worker, start_api):
    worker = start_worker()
    definitions = {school: automation(
        f"{school}-flow", {"event": "course.enrolled"},
        [{"id": "hello", "type": "send_email", "template": "t"}, {"id": "pause", "type": "wait_duration", "amount": 1, "unit": "days"},
         {"id": "bye", "type": "send_email", "template": "t"}], school=school) for school in ("sa", "sb")}
    for definition in definitions.values():
        worker.save_and_activate(definition)
    api = start_api(worker, schools=("sa", "sb"))
    t = datetime.now(timezone.utc) + timedelta(seconds=1)
    worker.send([event(f"e-{s}", "course.enrolled", f"{s}-user", t, school=s, course="c") for s in ("sa", "sb")])
    runs = {s: api.eventually(lambda s=s: api.school(s, "GET", f"/automations/{s}-flow/runs")[1]["runs"], lambda r: len(r) == 1)[0]
            for s in ("sa", "sb")}
    b_ids = {"automation_id": "sb-flow", "run_id": runs["sb"]["run_id"], "user": "sb-user", "step_id": "pause"}
    token_a = api.tokens["sa"]
    exercised = set()
    for route in ROUTES:
        if route.access == "public":
            continue
        exercised.add((route.method, route.path))
        body = [as_json(event("e-x", "course.enrolled", "sb-user", t, school="sb", course="c"))] if route.path.endswith("/events") else None
        # no token: no access
        assert api.call(route.method, route.path.format(school="sa", **b_ids), None, body)[0] == 401, route.path
        if route.access == "operator":
            assert api.call(route.method, route.path, token_a, body)[0] == 403, route.path
            continue
        # school A's token on school B's path: refused
        status, answer = api.call(route.method, route.path.format(school="sb", **b_ids), token_a, body)
        assert status == 403, (route.path, status, answer)
        # school A's path with school B's ids: nothing of B shows
        status, answer = api.call(route.method, route.path.format(school="sa", **b_ids), token_a, body)
        text = json.dumps(answer)
        assert runs["sb"]["run_id"] not in text and "sb-flow" not in text or status == 404, (route.path, answer)
        if "{run_id}" in route.path or "{automation_id}" in route.path:
            assert status == 404, (route.path, status, answer)
        elif route.path.endswith("/learners/{user}/runs"):
            assert answer["runs"] == [] and answer["not_started"] == []
        elif route.path.endswith("/automations"):
            assert [a["id"] for a in answer["automations"]] == ["sa-flow"]
        elif route.path.endswith("/events"):
            assert status == 400 and "sb" in answer["problems"][0]["reason"]
    assert exercised == {(r.method, r.path) for r in ROUTES if r.access != "public"}
    # the operator token may act for every school
    assert api.call("GET", "/schools/sb/automations", OPERATOR_TOKEN)[0] == 200
    assert api.call("GET", "/schools/sa/automations", "not-a-token")[0] == 401


def test_every_routes_real_answers_fit_the_openapi_documents_models(start_worker, start_api):
    # given a school with a wait (to advance), a synchronous automation, and pending runs
    worker = start_worker()
    worker.save_and_activate(automation(
        "flow", {"event": "course.enrolled"},
        [{"id": "hello", "type": "send_email", "template": "t"}, {"id": "pause", "type": "wait_duration", "amount": 1, "unit": "days"},
         {"id": "bye", "type": "send_email", "template": "t"}]))
    worker.save_and_activate(automation(
        "on-tag", {"event": "user.tag_added"}, [{"id": "mark", "type": "add_tag", "tag": "seen"}], mode="synchronous"))
    api = start_api(worker)
    t = datetime.now(timezone.utc) + timedelta(seconds=1)
    status, _ = api.school("s1", "POST", "/events", [as_json(event(f"e-{u}", "course.enrolled", u, t, course="c"))
                                                     for u in ("u1", "u2")])
    assert status == 202
    runs = api.eventually(lambda: api.school("s1", "GET", "/automations/flow/runs")[1]["runs"],
                          lambda runs: len(runs) == 2 and all(r["status"] == "pending" for r in runs))
    first, second = sorted(runs, key=lambda r: r["user"])

    # when every route is called for a success (ApiServer.call holds each answer to its schema)
    calls = [
        ("GET", "/health", None), ("GET", "/ready", None), ("GET", "/openapi.json", None),
        ("GET", "/schools/s1/automations", None), ("GET", "/schools/s1/automations/flow", None),
        ("GET", "/schools/s1/automations/flow/runs?limit=10", None), ("GET", "/schools/s1/automations/flow/steps", None),
        ("GET", f"/schools/s1/runs/{first['run_id']}", None), ("GET", "/schools/s1/learners/u1/runs", None),
        ("POST", "/schools/s1/events", as_json(event("g1", "user.tag_added", "u3", t + timedelta(seconds=1), tag="x"))),
        ("POST", f"/schools/s1/runs/{first['run_id']}/replay", None),
        ("POST", f"/schools/s1/runs/{second['run_id']}/cancel", None),
        ("POST", "/schools/s1/automations/flow/steps/pause/advance", None),
        ("GET", "/operator/projections", None), ("GET", "/operator/projections/snapshot", None),
        ("POST", "/operator/projections/rebuild", {"partitions": [0]}),
    ]
    for method, path, body in calls:
        status, answer = api.call(method, path, OPERATOR_TOKEN, body)
        assert 200 <= status < 300, (method, path, status, answer)
    # the snapshot again, once the commands have run: replays, cancels and history in it too
    api.eventually(lambda: api.operator("GET", "/operator/projections/snapshot")[1]["runs"],
                   lambda runs: len(runs) == 4 and any(r["status"] == "cancelled" for r in runs.values()))

    # then every route's success answer was checked against its model
    succeeded = {(method, template) for method, template, status in api.answers.checked if status.startswith("2")}
    assert succeeded == {(route.method, route.path) for route in ROUTES}
