"""The offline author commands, through typer's CliRunner: output, exit codes, no tracebacks.

Failures are `CliError`s, which the root CLI (`cli.main`) prints as one line
`error: ...` with exit code 1; here they are read from `result.exception`.
"""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from console.definitions import TEMPLATES_DIR, app, register
from console.errors import CliError
from engine.documents import load_document
from engine.json_schema import schema_text
from engine.validation import validate_document

runner = CliRunner()


def error_line(result) -> str:
    """What `cli.main` prints for the failure."""
    assert result.exit_code == 1
    assert isinstance(result.exception, CliError), result.exception
    return f"error: {result.exception}"

VALID = """id: welcome
school: s1
name: Welcome
triggers:
  - event: user.registered
flow:
  - type: send_email
    template: welcome
"""
INVALID = """id: welcome
school: s1
name: Welcome
triggers:
  - event: user.inactive
flow:
  - type: wait_duration
    amount: 4
    unit: minutes
  - type: wait_duration
    amount: 366
"""


@pytest.fixture
def files(tmp_path):
    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_validate_says_ok_for_a_valid_file(files):
    path = files("ok.yaml", VALID)
    result = runner.invoke(app, ["validate", path])
    assert (result.exit_code, result.stdout) == (0, f"{path}: ok\n")


def test_validate_reports_every_problem_with_its_path_and_line(files):
    path = files("bad.yaml", INVALID)
    result = runner.invoke(app, ["validate", path])
    assert error_line(result) == "error: 4 problem(s) in 1 of 1 file(s)"
    assert result.stdout.splitlines() == [
        f"{path}:5:5: triggers[0].days: Say after how many days without activity this fires.",
        f"{path}:8:5: flow[0].amount: A wait must last at least 5 minutes; this one is 4 minutes.",
        f"{path}:11:5: flow[1].amount: A wait can last at most 365 days; this one is 366 days.",
        f"{path}:10:5: flow[1]: This wait can follow the wait at flow[0] with no action between "
        "them; add an action between the two waits.",
    ]


def test_validate_json_is_machine_readable(files):
    good, bad = files("ok.json", json.dumps(load_document(VALID, "x.yaml"))), files("bad.yaml", INVALID)
    result = runner.invoke(app, ["validate", "--format", "json", good, bad])
    assert error_line(result) == "error: 4 problem(s) in 1 of 2 file(s)"
    report = json.loads(result.stdout)
    assert [(r["file"], r["valid"]) for r in report] == [(good, True), (bad, False)]
    assert report[1]["problems"][0] == {
        "path": "triggers[0].days",
        "message": "Say after how many days without activity this fires.",
        "line": 5,
        "column": 5,
    }


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("broken.yaml", "id: a\nflow: [\n", ":3:1: this is not valid YAML: while parsing a flow node, expected the node content, but found '<stream end>'."),
        ("broken.json", '{"id" "a"}', ":1:7: this is not valid JSON: Expecting ':' delimiter."),
        ("typo.yaml", VALID.replace("template:", "templat:"), ":8:5: flow[0].templat: Unknown setting 'templat'. Did you mean 'template'? Allowed here: id, template, type."),
        ("wrong.yaml", VALID.replace("template: welcome", "template: [1]"), ":8:5: flow[0].template: Expected text here, found a list."),
        ("empty.yaml", "", ": the file is empty."),
        ("latin1.yaml", None, ": the file is not UTF-8 text."),
    ],
)
def test_bad_files_give_one_located_line_and_no_traceback(files, tmp_path, name, text, expected):
    if text is None:
        (tmp_path / name).write_bytes("name: caf\xe9\n".encode("latin-1"))
        path = str(tmp_path / name)
    else:
        path = files(name, text)
    result = runner.invoke(app, ["validate", path])
    assert error_line(result) == "error: 1 problem(s) in 1 of 1 file(s)"
    assert result.stdout == f"{path}{expected}\n"


def test_a_missing_file_does_not_stop_the_others(files):
    good = files("ok.yaml", VALID)
    result = runner.invoke(app, ["validate", "/nonexistent/a.yaml", good])
    assert error_line(result) == "error: 1 problem(s) in 1 of 2 file(s)"
    assert result.stdout.splitlines() == ["/nonexistent/a.yaml: no such file.", f"{good}: ok"]


def test_validate_reads_standard_input():
    result = runner.invoke(app, ["validate", "-"], input=VALID)
    assert (result.exit_code, result.stdout) == (0, "-: ok\n")


def test_schema_prints_the_json_schema():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == schema_text()


def test_templates_lists_each_with_its_summary():
    result = runner.invoke(app, ["templates"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml"))
    assert "Upsell after completion:" in result.stdout


def test_new_prints_a_valid_automation_with_the_given_identity():
    result = runner.invoke(
        app, ["new", "--template", "onboarding", "--id", "welcome-2027", "--school", "s1", "--name", 'Say "hi"']
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("# Onboarding sequence")
    automation, problems = validate_document(load_document(result.stdout, "new.yaml"))
    assert problems == []
    assert (automation.id, automation.school, automation.name) == ("welcome-2027", "s1", 'Say "hi"')


def test_new_with_an_unknown_template_is_one_error_line():
    result = runner.invoke(app, ["new", "--template", "welcome"])
    assert error_line(result) == (
        "error: unknown template 'welcome'; choose one of: certificate-expiry, inactivity, onboarding, upsell"
    )
    assert result.stdout == ""


def test_register_adds_the_commands_to_a_root_cli(files):
    root = typer.Typer()

    @root.command("version")
    def version() -> None:
        typer.echo("1")

    register(root)
    path = files("ok.yaml", VALID)
    assert runner.invoke(root, ["validate", path]).stdout == f"{path}: ok\n"
    assert runner.invoke(root, ["version"]).stdout == "1\n"
