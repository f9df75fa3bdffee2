"""The author's lifecycle through the real CLI and the real definitions topic (issue 3):
apply, activate, list with search, duplicate (exit conditions never copied),
export/import round trip, and delete without learners, finishing and immediate."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.school_events import SchoolEvent

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
UPSELL = ROOT / "examples" / "templates" / "upsell.yaml"
ONBOARDING = ROOT / "examples" / "automations" / "course-onboarding.yaml"
WELCOME = ROOT / "examples" / "automations" / "welcome-tag.yaml"


@pytest.fixture
def worker(start_worker):
    return start_worker()


@pytest.fixture
def cli(worker):
    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), *args],
            capture_output=True, text=True, env=worker.env(), timeout=120, cwd=ROOT,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        return result

    return run


def listed(cli, *options: str) -> list[str]:
    output = cli("list", "--format", "json", *options).stdout
    return [json.loads(line)["id"] for line in output.splitlines()]


def test_apply_activate_list_and_search(cli):
    saved = cli("apply", str(WELCOME), str(UPSELL))
    assert "saved welcome-tag (version 1, inactive)" in saved.stdout
    assert "saved upsell (version 1, inactive)" in saved.stdout

    cli("activate", "welcome-tag")

    assert sorted(listed(cli)) == ["upsell", "welcome-tag"]
    assert listed(cli, "--search", "WELCOME") == ["welcome-tag"]
    assert listed(cli, "--status", "active") == ["welcome-tag"]
    assert listed(cli, "--school", "my-school") == ["upsell"]
    assert listed(cli, "--search", "nothing-like-this") == []
    again = cli("activate", "welcome-tag", ok=False)
    assert "already active" in again.stderr


def test_duplicate_copies_triggers_and_flow_but_never_exit_conditions(cli):
    cli("apply", str(UPSELL))

    result = cli("duplicate", "upsell", "--new-id", "upsell-2", "--name", "Upsell again")

    assert "exit condition(s) of 'upsell' were not copied" in result.stdout
    copy = json.loads(cli("show", "upsell-2").stdout)
    original = json.loads(cli("show", "upsell").stdout)
    assert copy["exits"] == [] and len(original["exits"]) == 2
    assert copy["flow"] == original["flow"] and copy["triggers"] == original["triggers"]
    assert (copy["name"], copy["status"]) == ("Upsell again", "inactive")
    never_saved = cli("duplicate", "no-such-automation", ok=False)
    assert "never been saved" in never_saved.stderr


def test_export_import_round_trip_keeps_exit_conditions(cli, tmp_path):
    cli("apply", str(UPSELL))
    exported = tmp_path / "upsell.json"
    cli("export", "upsell", "-o", str(exported))
    document = json.loads(exported.read_text())
    document["id"] = "upsell-imported"
    exported.write_text(json.dumps(document))

    cli("import", str(exported))

    imported = json.loads(cli("show", "upsell-imported").stdout)
    original = json.loads(cli("show", "upsell").stdout)
    for part in ("triggers", "flow", "exits", "name", "school", "mode"):
        assert imported[part] == original[part], part
    assert imported["status"] == "inactive"


def test_delete_without_learners_removes_at_once_once_confirmed(cli):
    cli("apply", str(WELCOME))
    unconfirmed = cli("delete", "welcome-tag", ok=False)
    assert "Delete welcome-tag? This cannot be undone. Nothing was done; add --yes to confirm." in unconfirmed.stderr
    assert listed(cli) == ["welcome-tag"]

    assert "deleted welcome-tag" in cli("delete", "welcome-tag", "--yes").stdout
    assert "no automation 'welcome-tag'" in cli("show", "welcome-tag", ok=False).stderr
    assert "it was deleted" in cli("delete", "welcome-tag", ok=False).stderr


def onboarding_with_learners_waiting(cli, worker, *users: str) -> datetime:
    """Course onboarding saved and active, each user enrolled and waiting in its first wait."""
    cli("apply", str(ONBOARDING))
    cli("activate", "course-onboarding")
    at = datetime.now(timezone.utc) + timedelta(seconds=1)
    worker.send([SchoolEvent(id=f"enr-{user}", type="course.enrolled", school="demo-school", user=user,
                             occurred_at=at, data={"course": "python-101"}) for user in users])
    worker.wait_for("run_status", lambda rs: sum(r.get("status") == "pending" for r in rs) == len(users))
    return at


def test_delete_with_learners_inside_needs_a_mode_then_finishing_or_immediate(cli, worker):
    onboarding_with_learners_waiting(cli, worker, "ann", "ben")

    refused = cli("delete", "course-onboarding", ok=False)
    assert "learners are inside" in refused.stderr

    unconfirmed = cli("delete", "course-onboarding", "--finishing", ok=False)
    assert "Delete course-onboarding once the 2 learner(s) inside have finished? This cannot be undone." in unconfirmed.stderr
    finishing = cli("delete", "course-onboarding", "--finishing", "--yes")
    assert "finishing: 2 learner(s) inside" in finishing.stdout
    assert listed(cli, "--status", "finishing") == ["course-onboarding"]
    assert "read-only" in cli("apply", str(ONBOARDING), ok=False).stderr

    cli("delete", "course-onboarding", "--immediate", "-y")
    statuses = worker.wait_for(
        "run_status", lambda rs: sum(r.get("status") == "cancelled" for r in rs) == 2
    )
    assert {r["user"] for r in statuses if r.get("status") == "cancelled"} == {"ann", "ben"}
    assert listed(cli) == []


def test_a_finishing_automation_is_removed_once_its_last_learner_leaves(cli, worker):
    at = onboarding_with_learners_waiting(cli, worker, "cy")
    cli("delete", "course-onboarding", "--finishing", "--yes")
    assert listed(cli, "--status", "finishing") == ["course-onboarding"]

    # the last learner reaches the goal: the exit condition ends the run
    worker.send([SchoolEvent(id="done-cy", type="course.completed", school="demo-school", user="cy",
                             occurred_at=at + timedelta(seconds=5), data={"course": "python-101"})])
    worker.wait_for("run_status", lambda rs: any(r.get("status") == "completed_via_exit" for r in rs))

    deadline = datetime.now(timezone.utc) + timedelta(seconds=60)
    while listed(cli) and datetime.now(timezone.utc) < deadline:
        pass  # each `list` reads the definitions topic anew
    assert listed(cli) == []
    assert "it was deleted" in cli("delete", "course-onboarding", ok=False).stderr


def test_an_edit_that_removes_a_wait_with_learners_in_it_is_saved_only_once_confirmed(cli, worker, tmp_path):
    onboarding_with_learners_waiting(cli, worker, "di")
    edited = tmp_path / "course-onboarding.yaml"
    text = ONBOARDING.read_text()
    start, end = text.index("  - id: wait-two-days"), text.index("  - id: started-yet")
    edited.write_text(text[:start] + text[end:])

    unconfirmed = cli("apply", str(WELCOME), str(edited), ok=False)
    assert ("course-onboarding: learners are waiting in wait steps this edit removes (1 in 'wait-two-days'); "
            "saving moves them on to the next step at once. Nothing was done; add --yes to confirm.") in unconfirmed.stderr
    assert json.loads(cli("show", "course-onboarding").stdout)["version"] == 2  # saved, activated: no third
    assert listed(cli) == ["course-onboarding"], "the other file was not saved either"

    assert "saved course-onboarding (version 3, active)" in cli("apply", str(edited), "--yes").stdout
    moved = worker.wait_for("run_status", lambda rs: any(r.get("step_id") == "nudge-email" for r in rs))
    assert any(r.get("step_id") == "nudge-email" and r["user"] == "di" for r in moved)
