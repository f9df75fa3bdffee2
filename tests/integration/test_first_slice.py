"""Issue 2's slice through Kafka for real: a tag event in, two actions and a
fulfilled run status out, read back from the topics."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from engine.definitions import Automation
from engine.school_events import SchoolEvent

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "automations" / "welcome-tag.yaml"


def event(event_id: str, type_: str, user: str, at: datetime, **data) -> SchoolEvent:
    return SchoolEvent(id=event_id, type=type_, school="demo-school", user=user, occurred_at=at, data=data)


def test_tag_event_emits_email_and_tag_commands_and_a_fulfilled_run(start_worker):
    worker = start_worker()
    worker.save_and_activate(Automation.model_validate(yaml.safe_load(EXAMPLE.read_text())))
    later = datetime.now(timezone.utc) + timedelta(seconds=1)

    worker.send([
        event("e1", "user.registered", "ada", later, email="ada@example.org", fields={}),
        event("e2", "user.tag_added", "ada", later + timedelta(seconds=1), tag="new-student"),
    ])

    actions = worker.wait_for("actions", lambda records: len(records) >= 2)
    assert [(a["type"], a["template"] or a["tag"]) for a in actions] == [
        ("send_email", "welcome"),
        ("add_tag", "welcomed"),
    ]
    assert all(a["school"] == "demo-school" and a["user"] == "ada" for a in actions)
    assert len({a["idempotency_key"] for a in actions}) == 2
    statuses = worker.wait_for(
        "run_status", lambda rs: any(r["kind"] == "run_status_changed" and r["status"] == "fulfilled" for r in rs)
    )
    started = [r for r in statuses if r["kind"] == "run_started"]
    assert [(r["automation_id"], r["trigger_id"], r["trigger_event_id"]) for r in started] == [
        ("welcome-tag", "got-new-student-tag", "e2")
    ]


def test_an_event_sent_for_a_receipt_gets_one_with_its_runs_and_actions(start_worker):
    worker = start_worker()
    worker.save_and_activate(Automation.model_validate(yaml.safe_load(EXAMPLE.read_text())))
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    worker.send([event("r1", "user.registered", "bob", later, email="bob@example.org", fields={})])

    worker.send([event("r2", "user.tag_added", "bob", later + timedelta(seconds=1), tag="new-student")],
                want_receipts=True)

    receipts = worker.wait_for("receipts", lambda records: len(records) >= 1)
    assert [r["event_id"] for r in receipts] == ["r2"]  # the first event asked for none
    (receipt,) = receipts
    assert [(run["automation_id"], run["status"]) for run in receipt["runs"]] == [("welcome-tag", "fulfilled")]
    assert [a["type"] for a in json.loads(receipt["actions_json"])] == ["send_email", "add_tag"]
