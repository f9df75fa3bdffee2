"""The API's edges without a broker: OpenAPI coverage, tokens, ingest bodies, decoding kcat output."""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from api import openapi
from api.app import ROUTES
from api.auth import Authenticator, TokenFileError, add_token, digest, read_tokens
from api.ingest import read_events
from console.decode import FramingError, kcat_values
from schemas.codec import encode

T = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


def test_the_openapi_document_describes_every_route_and_nothing_else():
    document = openapi.document(ROUTES)
    described = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert described == {(route.method, route.path) for route in ROUTES}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(part[1:-1] for part in path.split("/") if part.startswith("{")), path
            assert operation["summary"] and operation["responses"]
            if operation["x-access"] != "public":
                assert operation["security"] == [{"bearer": []}] and "401" in operation["responses"], path


def test_a_route_without_a_description_is_refused():
    class Fake:
        method, path, access = "GET", "/undocumented", "public"

    with pytest.raises(RuntimeError, match="undocumented"):
        openapi.document([*ROUTES, Fake()])


def test_tokens_are_stored_hashed_and_bound_to_their_school(tmp_path):
    path = tmp_path / "tokens.json"
    token_a = add_token(path, "school-a")
    token_b = add_token(path, "school-b")
    stored = path.read_text()
    assert token_a not in stored and digest(token_a) in stored
    auth = Authenticator(str(path), digest("op"))
    assert auth.principal(f"Bearer {token_a}").school == "school-a"
    assert auth.principal(f"Bearer {token_a}").may_act_for("school-b") is False
    assert auth.principal(f"Bearer {token_b}").may_act_for("school-b") is True
    assert auth.principal("Bearer op").operator is True
    for header in (None, "", "Bearer ", "Basic abc", f"bearer {token_a}", "Bearer unknown"):
        assert auth.principal(header) is None, header


def test_a_token_added_while_the_server_runs_is_accepted_without_a_restart(tmp_path):
    path = tmp_path / "tokens.yaml"
    auth = Authenticator(str(path), "")
    assert auth.principal("Bearer later") is None
    token = add_token(path, "s1")
    assert auth.principal(f"Bearer {token}").school == "s1"


def test_a_malformed_token_file_is_one_clear_error(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  - school: s1\n    sha256: short\n")
    with pytest.raises(TokenFileError, match=r"tokens\[0\]"):
        read_tokens(path)


def good(event_id: str = "e1", school: str = "s1") -> dict:
    return {"id": event_id, "type": "user.tag_added", "school": school, "user": "u1",
            "occurred_at": T.isoformat(), "data": {"tag": "x"}}


def test_ingest_reads_one_event_or_a_list_and_reports_every_bad_one():
    events, problems = read_events(json.dumps(good()).encode(), "s1", 10)
    assert [e.id for e in events] == ["e1"] and problems == []
    body = [good("a"), {"id": "b"}, good("c", school="other"), "text"]
    events, problems = read_events(json.dumps(body).encode(), "s1", 10)
    assert [p["index"] for p in problems] == [1, 2, 3]
    assert "other" in problems[1]["reason"]
    for raw, reason in ((b"{", "not JSON"), (b"[]", "no event"), (b"\xff", "not JSON")):
        assert reason in read_events(raw, "s1", 10)[1][0]["reason"]
    assert "at most 2" in read_events(json.dumps([good()] * 3).encode(), "s1", 2)[1][0]["reason"]


@given(st.binary(max_size=200))
def test_any_body_is_events_or_reasons_never_an_exception(raw):
    events, problems = read_events(raw, "s1", 5)
    assert bool(events) != bool(problems)


def run_status_value(run_id: str) -> bytes:
    return encode("run_status", {"kind": "run_started", "school": "s1", "user": "u1",
                                 "automation_id": "a1", "run_id": run_id, "at": T})


@given(st.lists(st.sampled_from(["r1", "r\n2", "r 3"]), max_size=5))
def test_kcat_length_prefixed_values_come_back_whole(run_ids):
    values = [run_status_value(run_id) for run_id in run_ids]
    stream = b"".join(b"%d %s" % (len(v), v) for v in values)
    assert list(kcat_values(io.BytesIO(stream))) == values


def test_kcat_framing_problems_say_which_record():
    with pytest.raises(FramingError, match="record 1: input ends after"):
        list(kcat_values(io.BytesIO(b"10 abc")))
    with pytest.raises(FramingError, match="expected a length"):
        list(kcat_values(io.BytesIO(b"abc def")))
    assert list(kcat_values(io.BytesIO(b"-1 "))) == [None]


def test_decode_command_prints_json_lines_and_reports_bad_records():
    from cli import _mount, app

    _mount()
    value = run_status_value("r1")
    lines = base64.b64encode(value) + b"\n" + base64.b64encode(b"junk-bytes-here") + b"\n"
    result = CliRunner().invoke(app, ["decode", "run-status", "--format", "base64"], input=lines)
    first = json.loads(result.stdout.splitlines()[0])
    assert (first["run_id"], first["kind"]) == ("r1", "run_started")
    assert result.exit_code != 0 and "record 2" in result.output


def test_every_body_the_openapi_document_names_is_a_model_with_its_fields():
    document = openapi.document(ROUTES)
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            bodies = [answer["content"]["application/json"]["schema"] for answer in operation["responses"].values()]
            if "requestBody" in operation:
                bodies.append(operation["requestBody"]["content"]["application/json"]["schema"])
            for schema in bodies:
                name = schema.get("$ref", "").removeprefix("#/components/schemas/")
                assert name in schemas, (method, path, schema)
                model = schemas[name]
                assert "properties" in model or "anyOf" in model, (method, path, name, model)
    # a client's SDK knows every field of a run's activity, and that the error has `error`
    assert {"run_id", "status", "steps", "history", "trace", "replayable"} <= set(schemas["RunActivity"]["properties"])
    assert schemas["Error"]["required"] == ["error"]


def test_the_example_events_fit_the_ingest_request_schema():
    from jsonschema import Draft202012Validator

    from tests.integration.harness import ROOT

    document = openapi.document(ROUTES)
    schema = document["paths"]["/schools/{school}/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    events = [json.loads(line) for line in (ROOT / "examples" / "events.jsonl").read_text().splitlines() if line.strip()]
    assert not list(validator.iter_errors(events))
    assert not list(validator.iter_errors(events[0]))
    assert list(validator.iter_errors({"id": "x"})), "a body without the event's fields is refused"
