"""Requests built to break the API server, against its real routes and middleware (no broker:
the service behind them is a stand-in with loaded views and one run-status feed).

Each case answered a 500 with a traceback, hung, or let a revoked token in before its fix.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import MAX_BODY_BYTES, ROUTES, SERVICE, _guarded, json_errors
from api.auth import Authenticator, TokenFileError, add_token
from api.ingest import read_events
from projections.store import ProjectionStore


class Feed:
    topic, partitions = "run-status", [0, 1, 2]
    running = True

    def __init__(self) -> None:
        self.rewound: list[list[int]] = []
        self.rewinding: set[int] = set()

    async def rewind(self, partitions: list[int]) -> None:
        self.rewound.append(partitions)

    def progress(self, partitions=None) -> tuple[int, int]:
        return 0, 0


class Service:
    def __init__(self, tokens: Path) -> None:
        self.auth = Authenticator(str(tokens), "")
        self.loaded = True
        self.feeds = {"run_status": Feed()}
        # The projections' reads: an empty SQLite store next to the tokens file.
        self.store = ProjectionStore(f"sqlite:///{tokens.parent / 'projections.sqlite3'}")
        self.store.migrate()

        async def read(ask, *args, **options):
            with self.store.connect() as conn:
                return ask(conn, *args, **options)

        self.read = read
        # What ingest is handed; the requests here never get as far as using them.
        self.settings = self.producer = self.definitions = self.receipts = None
        self.api = SimpleNamespace(max_events_per_request=1000, sync_timeout=1.0)
        self.broker = SimpleNamespace(answering=True)
        self.writes = SimpleNamespace(waiting=0)


def request(service, method: str, path: str, **kwargs) -> tuple[int, dict | str, dict]:
    async def go():
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors])
        app[SERVICE] = service
        for route in ROUTES:
            app.router.add_route(route.method, route.path, _guarded(route))
        async with TestClient(TestServer(app)) as client:
            response = await client.request(method, path, **kwargs)
            text = await response.text()
            body = json.loads(text) if response.content_type == "application/json" else text
            return response.status, body, dict(response.headers)

    return asyncio.run(go())


@pytest.fixture
def tokens(tmp_path) -> Path:
    return tmp_path / "tokens.json"


@pytest.fixture
def school_token(tokens) -> str:
    return add_token(tokens, "s1")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- query and headers


@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A1%D9%A0", "1" * 5000, "-1", "0", "1001"])
def test_a_limit_that_is_not_1_to_1000_in_ascii_digits_is_a_400(tokens, school_token, limit):
    status, body, _ = request(Service(tokens), "GET", f"/schools/s1/automations/a1/runs?limit={limit}",
                              headers=bearer(school_token))

    assert status == 400
    assert body["error"].startswith("limit must be a whole number from 1 to 1000")


def test_a_token_that_is_not_ascii_is_no_token(tokens, school_token):
    status, body, headers = request(Service(tokens), "GET", "/schools/s1/automations",
                                    headers={"Authorization": "Bearer caf\u00e9"})

    assert (status, body["error"]) == (401, "a valid bearer token is required")
    assert headers["WWW-Authenticate"] == 'Bearer realm="automations"'


# ---------------------------------------------------------------- aiohttp's own answers


def test_an_unknown_path_a_wrong_method_and_an_oversized_body_answer_json(tokens, school_token):
    service = Service(tokens)

    status, body, _ = request(service, "GET", "/schools/s1/nothing-here")
    assert (status, body) == (404, {"error": "Not Found"})

    status, body, headers = request(service, "DELETE", "/schools/s1/automations")
    assert (status, body) == (405, {"error": "Method Not Allowed"})
    assert headers["Allow"] == "GET"

    status, body, _ = request(service, "POST", "/schools/s1/events", headers=bearer(school_token),
                              data=b" " * (MAX_BODY_BYTES + 1))
    assert status == 413 and "Maximum request body size 8388608 exceeded" in body["error"]


def test_a_failure_no_handler_expected_is_a_json_500(tokens, school_token, monkeypatch, caplog):
    import api.app as app_module

    monkeypatch.setattr(app_module.queries, "learner_history", lambda *args: 1 / 0)

    status, body, _ = request(Service(tokens), "GET", "/schools/s1/learners/u1/runs", headers=bearer(school_token))

    assert (status, body) == (500, {"error": "the server failed on this request; its log has the details"})
    assert "ZeroDivisionError" in caplog.text


# ---------------------------------------------------------------- the operator's rebuild


@pytest.mark.parametrize("body, error", [
    ([5], "the body must be a JSON object"),
    ("x", "the body must be a JSON object"),
    ({"partitions": [1.0]}, "partitions must be a list of run-status's partitions [0, 1, 2]"),
    ({"partitions": [True]}, "partitions must be a list of run-status's partitions [0, 1, 2]"),
    ({"partitions": [3]}, "partitions must be a list of run-status's partitions [0, 1, 2]"),
])
def test_a_rebuild_of_anything_but_a_list_of_partition_numbers_is_refused(tmp_path, body, error):
    import hashlib

    service = Service(tmp_path / "none.json")
    service.auth = Authenticator("", hashlib.sha256(b"op").hexdigest())

    status, answer, _ = request(service, "POST", "/operator/projections/rebuild", headers=bearer("op"), json=body)

    assert status == 400 and answer["error"].startswith(error)
    assert service.feeds["run_status"].rewound == []

    status, _, _ = request(service, "POST", "/operator/projections/rebuild", headers=bearer("op"), json={"partitions": [1]})
    assert status == 202 and service.feeds["run_status"].rewound == [[1]]


def test_ready_says_no_while_partitions_are_rebuilt_and_progress_counts_what_came_since(tmp_path):
    from api.feeds import TopicFeed
    from processors.config import Settings

    # given a server whose views have loaded, then an operator's rebuild of partition 1
    service = Service(tmp_path / "none.json")
    assert request(service, "GET", "/ready")[:2] == (200, {"ready": True, "rebuilding": [], "broker_answering": True, "writes_waiting": 0})
    service.feeds["run_status"].rewinding = {1}
    # then it is not ready until the partition has caught up again (its figures count from zero)
    assert request(service, "GET", "/ready")[:2] == (503, {"ready": False, "rebuilding": [1], "broker_answering": True, "writes_waiting": 0})
    # and a feed that has read past the ends it aimed at when it started counts the records since
    # and a feed whose reading ended keeps it at 503, named
    service.feeds["run_status"].rewinding, service.feeds["run_status"].running = set(), False
    assert request(service, "GET", "/ready")[:2] == (503, {"ready": False, "rebuilding": [], "broker_answering": True,
                                                           "writes_waiting": 0, "feeds_ended": ["run_status"]})
    feed = TopicFeed(Settings(), "run-status", lambda record: None)
    feed.partitions, feed.targets, feed.positions = [0, 1], {0: 100, 1: 50}, {0: 60, 1: 80}
    assert feed.progress() == (140, 180) and feed.progress([1]) == (80, 80)


# ---------------------------------------------------------------- the token file


def test_a_token_file_cut_in_a_character_keeps_the_tokens_read_before(tokens, school_token, caplog):
    auth = Authenticator(str(tokens), "")
    with tokens.open("ab") as file:
        file.write(b"\n# \xff\n")

    assert auth.principal(f"Bearer {school_token}").school == "s1"
    assert "cannot read the token file" in caplog.text and caplog.text.count("cannot read") == 1
    assert auth.principal(f"Bearer {school_token}").school == "s1"
    assert caplog.text.count("cannot read") == 1  # once per change of the file, not per request


def test_removing_a_leaked_token_revokes_it_even_beside_a_malformed_entry(tokens, caplog):
    leaked, kept = add_token(tokens, "s1"), add_token(tokens, "s2")
    auth = Authenticator(str(tokens), "")
    document = json.loads(tokens.read_text())
    document["tokens"] = [document["tokens"][1], {"school": "s3", "sha256": "typo"}]
    time.sleep(0.01)  # a new modification time, even on a coarse clock
    tokens.write_text(json.dumps(document))

    assert auth.principal(f"Bearer {leaked}") is None
    assert auth.principal(f"Bearer {kept}").school == "s2"
    assert "tokens[1] needs a school and a 64-hex-digit sha256; that entry is ignored" in caplog.text


def test_a_server_does_not_start_on_a_token_file_it_cannot_read(tokens):
    tokens.write_bytes(b'{"tokens": [{"school": "s\xff"}]}')

    with pytest.raises(TokenFileError, match="cannot read the token file"):
        Authenticator(str(tokens), "")


# ---------------------------------------------------------------- ingest


def test_a_body_of_millions_of_items_is_refused_once_the_limit_is_passed():
    events, problems = read_events(b"[" + b"{}," * 2_500_000 + b"{}]", "s1", 1000)
    assert events == [] and problems[0]["reason"] == "more than 1000 events; at most 1000 per request"

    # The reader stops at the item past the limit: what follows it is never read.
    events, problems = read_events(b"[{}, {}, {}, this is never read", "s1", 2)
    assert problems[0]["reason"] == "more than 2 events; at most 2 per request"


def test_a_server_starts_on_a_token_file_with_one_bad_entry_and_uses_the_others(tokens, caplog):
    good = add_token(tokens, "s1")
    document = json.loads(tokens.read_text())
    document["tokens"].insert(0, {"school": "s2", "sha256": "typo"})
    tokens.write_text(json.dumps(document))

    auth = Authenticator(str(tokens), "")

    assert auth.principal(f"Bearer {good}").school == "s1"
    assert "tokens[0] needs a school and a 64-hex-digit sha256; that entry is ignored" in caplog.text


# ---------------------------------------------------------------- the broker away


def test_events_kafka_does_not_take_are_a_503_that_says_to_send_them_again():
    from aiokafka.errors import KafkaTimeoutError

    from api.ingest import ingest
    from api.views import DefinitionsView, ReceiptWaiters
    from api.writes import Writes
    from processors.config import Settings

    class UnreachableBroker:
        async def send(self, *args, **kwargs):
            raise KafkaTimeoutError()

    body = json.dumps({"id": "e1", "type": "user.tag_added", "school": "s1", "user": "u1",
                       "occurred_at": "2027-03-01T09:00:00Z", "data": {"tag": "x"}}).encode()
    async def go():
        return await ingest(Settings(), UnreachableBroker(), DefinitionsView(), ReceiptWaiters(), "s1", body, 10, 1.0, Writes(5.0))

    answer = asyncio.run(go())
    assert answer.status == 503 and answer.body["event_ids"] == ["e1"]
    assert answer.body["error"].startswith("Kafka did not take the events (KafkaTimeoutError)") and "send them again" in answer.body["error"]
