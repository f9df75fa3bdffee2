"""Bad input at the command line is one clear line on stderr and exit code 1,
never a traceback (issue 2): a missing file, an unreadable JSON line, no broker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD = (
    '{"id": "e1", "type": "user.tag_added", "school": "s1", "user": "u1", '
    '"occurred_at": "2027-03-01T09:00:00Z", "data": {"tag": "x"}}'
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, env=env, timeout=60
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_missing_file(tmp_path):
    result = run_cli("events", "send", str(tmp_path / "nope.jsonl"))
    assert_one_line_error(result, "no such file", "nope.jsonl")


def test_unreadable_json_line_names_its_line_number(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(GOOD + "\n\n{not json\n")
    result = run_cli("events", "send", str(path))
    assert_one_line_error(result, "events.jsonl:line 3:", "nothing was sent")


def test_event_failing_the_contract_names_field_and_line(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(GOOD.replace('"school": "s1", ', "") + "\n")
    result = run_cli("events", "send", str(path))
    assert_one_line_error(result, "line 1:", "school")


def test_broker_not_running(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(GOOD + "\n")
    result = run_cli("events", "send", str(path))
    assert_one_line_error(result, "no Kafka broker answers at 127.0.0.1:")


def test_author_command_without_broker():
    result = run_cli("list")
    assert_one_line_error(result, "no Kafka broker answers")
