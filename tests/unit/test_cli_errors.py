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


def run_cli_with(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True,
                          env={**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}", **env},
                          timeout=60)


def test_a_setting_that_is_not_a_number_names_the_variable():
    for name, args in [("AUTOMATIONS_PARTITIONS", ("list",)), ("AUTOMATIONS_API_PORT", ("api",)),
                       ("AUTOMATIONS_SESSION_TIMEOUT", ("list",))]:
        assert_one_line_error(run_cli_with({name: "abc"}, *args), f"{name} must be", "'abc'")
    without_bootstrap = {k: v for k, v in os.environ.items() if k != "AUTOMATIONS_KAFKA_BOOTSTRAP"}
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "list"], capture_output=True, text=True,
                            env={**without_bootstrap, "AUTOMATIONS_BROKER_PORT": "x"}, timeout=60)
    assert_one_line_error(result, "AUTOMATIONS_BROKER_PORT must be a whole number")


def test_a_folder_where_a_file_belongs(tmp_path):
    assert_one_line_error(run_cli("events", "send", str(tmp_path)), "is a folder, not a JSONL file")


def test_a_token_file_that_is_missing_or_unreadable(tmp_path):
    assert_one_line_error(run_cli("tokens", "list", "--file", str(tmp_path / "none.yaml")), "no token file at")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tokens: [\n")
    result = run_cli("tokens", "list", "--file", str(bad))
    assert_one_line_error(result, "cannot read the token file")
    assert len(result.stderr.strip().splitlines()) == 1


def test_option_values_outside_their_choices_are_refused_before_any_broker_is_asked():
    assert_one_line_error(run_cli("list", "--status", "bogus"), "--status must be one of active, inactive, finishing")
    assert_one_line_error(run_cli("list", "--format", "xml"), "--format must be one of table, json")
    assert_one_line_error(run_cli("dead-letters", "list", "--format", "xml"), "--format must be one of table, jsonl")
    assert_one_line_error(run_cli("dead-letters", "resend", "--input", "3-7"), "--input takes PARTITION/OFFSET")


def test_settings_out_of_their_range_name_the_variable_and_the_range():
    for name, value, expected in [("AUTOMATIONS_BROKER_PORT", "99999", "must be a whole number from 1 to 65535"),
                                  ("AUTOMATIONS_PARTITIONS", "0", "must be a whole number of at least 1"),
                                  ("AUTOMATIONS_SESSION_TIMEOUT", "nan", "must be a number of at least 0.1")]:
        env = {k: v for k, v in os.environ.items() if k != "AUTOMATIONS_KAFKA_BOOTSTRAP"}
        result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "list"], capture_output=True, text=True,
                                env={**env, name: value}, timeout=60)
        assert_one_line_error(result, f"{name} {expected}, got {value!r}")


def test_a_worker_refuses_a_bad_log_level_and_a_taken_web_port_before_touching_kafka():
    assert_one_line_error(run_cli("worker", "--loglevel", "bogus"), "--loglevel must be one of crit, error, warn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli_with({"AUTOMATIONS_WEB_PORT": str(port)}, "worker")
    assert_one_line_error(result, f"the worker's web port 127.0.0.1:{port} is taken")


def test_a_worker_makes_its_data_folder_with_its_parents_or_says_why_it_cannot(tmp_path):
    from console.worker import data_folder_ready

    data_folder_ready(str(tmp_path / "var" / "worker"))  # a fresh clone has no var/ (git ignores it)
    assert (tmp_path / "var" / "worker").is_dir()
    (tmp_path / "file").write_text("not a folder")
    assert_one_line_error(run_cli_with({"AUTOMATIONS_DATA_DIR": str(tmp_path / "file" / "worker")}, "worker"),
                          "cannot create the worker's data folder", "set AUTOMATIONS_DATA_DIR")


def test_an_api_port_out_of_range_is_one_line():
    assert_one_line_error(run_cli("api", "--port", "70000"), "--port must be a whole number from 1 to 65535, got 70000")


def test_operator_commands_refuse_what_they_cannot_do_in_one_line(tmp_path):
    assert_one_line_error(run_cli("partitions", "replay", "--topic", "school-events", "--from-time", "1900-01-01T00:00:00+00:00"),
                          "is before 1970")
    assert_one_line_error(run_cli_with({"AUTOMATIONS_API_URL": "notaurl", "AUTOMATIONS_API_TOKEN": "x"},
                                       "partitions", "replay", "--topic", "run-status"), "is not an http:// URL")
    huge = subprocess.run([sys.executable, str(ROOT / "cli.py"), "decode", "run-status"], input="99999999999999999 x",
                          capture_output=True, text=True, timeout=60)
    assert_one_line_error(huge, "more than any Kafka record holds")
    assert_one_line_error(run_cli("duplicate", "welcome", "--new-id", " "), "--new-id must not be empty")


def test_simulate_says_what_it_leaves_out_and_what_could_not_go_live(tmp_path):
    assert_one_line_error(run_cli("simulate", "-d", str(tmp_path), "-e", str(ROOT / "examples" / "events.jsonl")),
                          "no automation files")
    assert_one_line_error(run_cli("simulate", "-d", str(ROOT / "examples" / "automations"), "-e", str(tmp_path)),
                          "is a folder, not a JSONL file of events")
    (tmp_path / "quick.yaml").write_text(
        "id: quick\nschool: demo-school\nname: n\ntriggers: [{event: user.tag_added, tag: vip}]\n"
        "flow: [{type: wait_duration, amount: 1, unit: minutes}, {type: add_tag, tag: x}]\n")
    result = run_cli("simulate", "-d", str(tmp_path), "-e", str(ROOT / "examples" / "events.jsonl"),
                     "--until", "2027-03-02T00:00:00Z")
    assert result.returncode == 0, result.stderr
    assert "warning: quick: 1 problem(s) block activation (first: flow[0].amount: A wait must last at least 5 minutes" \
        in result.stderr
    assert "event(s) come after --until 2027-03-02T00:00:00Z and are left out" in result.stderr
