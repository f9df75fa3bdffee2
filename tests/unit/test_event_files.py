"""`events send` and `simulate` read event files as the HTTP ingest reads a body: strict
UTF-8, every problem with its line number; `-` is standard input."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from console import events as events_command
from console.errors import CliError
from console.simulate import load_events

GOOD = (
    '{"id": "e1", "type": "user.tag_added", "school": "s1", "user": "u1", '
    '"occurred_at": "2027-03-01T09:00:00Z", "data": {"tag": "x"}}'
)
runner = CliRunner()


def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(events_command.app, name="events")
    return root


def sent_events(monkeypatch) -> list:
    sent: list = []

    async def send_events(settings, events):
        sent.extend(events)
        return len(events)

    monkeypatch.setattr(events_command, "send_events", send_events)
    return sent


def test_a_line_that_is_not_utf8_is_refused_with_its_number_and_nothing_is_sent(tmp_path, monkeypatch):
    sent = sent_events(monkeypatch)
    path = tmp_path / "events.jsonl"
    # Latin-1 "é" in the user id: replaced by U+FFFD it would be another learner.
    path.write_bytes(GOOD.encode() + b"\n" + GOOD.replace('"u1"', '"ren\xe9"').encode("latin-1") + b"\n")
    result = runner.invoke(cli(), ["events", "send", str(path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, CliError)
    message = str(result.exception)
    assert "\n" not in message
    assert "events.jsonl:line 2: not UTF-8 text: byte 0xe9 at column" in message
    assert "nothing was sent" in message
    assert sent == []


def test_simulate_leaves_out_a_line_that_is_not_utf8(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xff" + GOOD.encode() + b"\n" + GOOD.encode() + b"\n")
    events, problems = load_events(path)
    assert [event.user for event in events] == ["u1"]
    assert problems == [f"{path}:1: not UTF-8 text: byte 0xff at column 1"]


def test_send_dash_reads_standard_input(monkeypatch):
    sent = sent_events(monkeypatch)
    result = runner.invoke(cli(), ["events", "send", "-"], input=GOOD + "\n\n" + GOOD.replace('"e1"', '"e2"') + "\n")
    assert result.exit_code == 0, result.output
    assert [event.id for event in sent] == ["e1", "e2"]


def test_a_bad_line_on_standard_input_is_named_by_its_number():
    result = runner.invoke(cli(), ["events", "send", "-"], input=GOOD + "\n{not json\n")
    assert result.exit_code == 1
    assert str(result.exception).startswith("stdin:line 2: invalid JSON")
