"""One id pattern at every edge: definition files (with the path), school events, the CLI
and the HTTP API take the ids a learning platform uses and refuse the rest."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import typer
from typer.testing import CliRunner

from console import lifecycle, runs
from console.errors import CliError
from engine.documents import parse_automation
from engine.identifiers import is_id
from engine.lifecycle import DefinitionsState, DuplicateAutomation, Rejected, SaveAutomation, decide, evolve
from engine.school_events import EventRejected, SchoolEvent
from engine.validation import validate_document
from schemas.school_events import parse_json_line
from tests.unit.test_api_hostile_requests import Service, bearer, request

GOOD_IDS = ["42", "python-101", "ada+test@example.org", "3f2b8c1e-6a8d-4f4e-9a59-2b1d6c0e7f10", "demo_school", "A.B"]
BAD_IDS = ["../../etc/passwd", "a/b", "..", ".hidden", "-rf", "with space", "tab\there", "s:u", "*", "rené", "a\nb", "x" * 201, ""]
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)


def document(**fields) -> dict:
    return {"id": "welcome", "school": "s1", "name": "Welcome",
            "triggers": [{"id": "t1", "event": "user.registered"}],
            "flow": [{"id": "hello", "type": "send_email", "template": "hi"}],
            "exits": [{"id": "x1", "event": "course.completed"}], **fields}


def test_the_pattern_takes_numbers_uuids_slugs_and_emails_and_nothing_unsafe():
    assert all(is_id(value) for value in GOOD_IDS)
    assert not any(is_id(value) for value in BAD_IDS)


@pytest.mark.parametrize("fields, path", [
    ({"id": "../../etc/passwd"}, "id"),
    ({"school": "my school"}, "school"),
    ({"triggers": [{"id": "t 1", "event": "user.registered"}]}, "triggers[0].id"),
    ({"flow": [{"id": "../x", "type": "send_email", "template": "hi"}]}, "flow[0].id"),
    ({"exits": [{"id": "x:1", "event": "course.completed"}]}, "exits[0].id"),
])
def test_a_definition_file_names_the_path_of_an_id_that_cannot_be_one(fields, path):
    _, problems = validate_document(document(**fields))
    assert [str(p.path) for p in problems if "cannot be an id" in p.message] == [path], problems


def test_a_definition_with_such_an_id_is_never_saved_and_none_is_duplicated_into_one():
    for fields in ({"id": "../../etc/passwd"}, {"flow": [{"id": "a b", "type": "send_email", "template": "hi"}]}):
        refused = decide(SaveAutomation(automation=parse_automation(document(**fields)), now=T0), DefinitionsState())
        assert isinstance(refused, Rejected) and "is not a valid id" in refused.reason, refused
    state = DefinitionsState()
    for event in decide(SaveAutomation(automation=parse_automation(document()), now=T0), state):
        state = evolve(state, event)
    refused = decide(DuplicateAutomation(automation_id="welcome", new_id="../copy", now=T0), state)
    assert isinstance(refused, Rejected) and "'../copy' is not a valid id" in refused.reason


def event_line(**fields) -> str:
    return json.dumps({"id": "e1", "type": "user.tag_added", "school": "s1", "user": "u1",
                       "occurred_at": "2027-03-01T09:00:00Z", "data": {"tag": "x"}, **fields})


def test_school_events_carry_ids_for_school_and_user():
    for value in GOOD_IDS:
        assert isinstance(parse_json_line(event_line(user=value)), SchoolEvent), value
    for value in ("../../etc/passwd", "with space", "rené"):
        for field in ("school", "user"):
            rejected = parse_json_line(event_line(**{field: value}))
            assert isinstance(rejected, EventRejected) and f"{field} {value!r} is not a valid id" in rejected.reason


def test_the_cli_refuses_an_id_before_it_reads_or_writes_anything():
    root = typer.Typer()
    lifecycle.register(root)
    root.add_typer(runs.app, name="runs")
    cases = [["activate", "../../etc/passwd"], ["duplicate", "welcome", "--new-id", "a b"],
             ["runs", "for-learner", "s1", "../../etc/passwd"], ["runs", "list", "--automation", "x/y"]]
    for args in cases:
        result = CliRunner().invoke(root, args)
        assert result.exit_code == 1 and isinstance(result.exception, CliError), (args, result.output)
        assert "is not a valid id: an id may hold only" in str(result.exception)


def test_the_api_answers_400_for_an_id_in_the_path_that_cannot_be_one(tmp_path):
    from api.auth import add_token

    tokens = tmp_path / "tokens.json"
    headers = bearer(add_token(tokens, "s1"))
    service = Service(tokens)
    for path in ("/schools/s1/learners/with%20space/runs", "/schools/s1/automations/..%2E/runs",
                 "/schools/s1/runs/r%C3%A9/replay"):
        method = "POST" if path.endswith("replay") else "GET"
        status, body, _ = request(service, method, path, headers=headers)
        assert status == 400 and "is not a valid id" in body["error"], (path, status, body)
    status, body, _ = request(service, "GET", "/schools/s1/learners/ada%2Btest@example.org/runs", headers=headers)
    assert status == 200, body
