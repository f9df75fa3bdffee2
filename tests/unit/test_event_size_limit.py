"""The largest school event the engine takes, enforced alike at the JSON edge and in the worker."""

import json
from types import SimpleNamespace

import pytest

from processors.dead_letters import MAX_VALUE_KEPT, dead_letter_record
from processors.ingest import read_jsonl
from processors.records import MAX_EVENT_BYTES, Undecodable, school_event_command
from schemas.codec import decode
from schemas.school_events import encode_school_event, parse_json_line


def line(tag: str) -> str:
    return json.dumps({"id": "e1", "type": "user.tag_added", "school": "s", "user": "u",
                       "occurred_at": "2027-03-01T09:00:00Z", "data": {"tag": tag}})


def test_the_worker_refuses_an_event_over_the_limit_and_takes_one_at_it():
    def encoded(tag_length: int) -> bytes:
        return encode_school_event(parse_json_line(line("x" * tag_length)))

    length = MAX_EVENT_BYTES - len(encoded(MAX_EVENT_BYTES)) + MAX_EVENT_BYTES  # same-width length prefix
    at_limit = encoded(length)
    assert len(at_limit) == MAX_EVENT_BYTES
    assert school_event_command(at_limit)[0].event.data["tag"].startswith("x")

    over = encoded(length + 1)
    with pytest.raises(Undecodable, match=f"over the limit of {MAX_EVENT_BYTES}"):
        school_event_command(over)


def test_the_json_edge_reports_an_oversized_line_with_its_number_and_sends_nothing(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(line("ok") + "\n" + line("x" * MAX_EVENT_BYTES) + "\n")

    events, problems = read_jsonl(path)

    assert [e.data["tag"] for e in events] == ["ok"]
    assert [(p.line, "over the limit" in p.reason) for p in problems] == [(2, True)]


def test_a_dead_letter_keeps_at_most_the_first_64_kib_of_the_input_and_says_so():
    message = SimpleNamespace(topic="t", partition=0, offset=7, key=b"s:u", value=b"\x01" * (MAX_VALUE_KEPT + 5))

    letter = decode("dead_letter", dead_letter_record(message, "too big"))

    assert letter["value"] == b"\x01" * MAX_VALUE_KEPT
    assert letter["reason"] == f"too big (dead letter keeps the first {MAX_VALUE_KEPT} of {MAX_VALUE_KEPT + 5} bytes)"
    small = SimpleNamespace(topic="t", partition=0, offset=8, key=b"s:u", value=b"abc")
    assert decode("dead_letter", dead_letter_record(small, "bad"))["value"] == b"abc"


def test_the_http_ingest_refuses_an_event_over_the_limit_as_the_jsonl_edge_does():
    from api.ingest import read_events

    body = f"[{line('ok')}, {line('x' * MAX_EVENT_BYTES)}]".encode()

    events, problems = read_events(body, "s", 1000)

    assert [e.data["tag"] for e in events] == ["ok"]
    assert [(p["index"], p["event_id"]) for p in problems] == [(1, "e1")]
    assert f"over the limit of {MAX_EVENT_BYTES}" in problems[0]["reason"]
