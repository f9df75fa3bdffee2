"""What the listing commands print: whole rows into a pipe, one --format vocabulary
(older words still accepted), and a note when a list shows fewer rows than there are."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from console import runs
from console.definitions import app as definitions_app
from console.errors import CliError
from console.output import output_format
from projections.partition import PartitionViews
from tests.unit.projection_world import RecordingWorld, automation

runner = CliRunner()
LONG_SCHOOL = "school-of-very-long-and-descriptive-names-for-testing"
LONG_AUTOMATION = "welcome-every-new-learner-of-the-autumn-cohort-with-a-long-id"


def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(runs.app, name="runs")
    return root


@pytest.fixture
def three_runs(monkeypatch):
    world = RecordingWorld([automation(LONG_AUTOMATION, {"event": "user.tag_added", "tag": "new"},
                                       [{"id": "hello", "type": "send_email", "template": "hi"}], school=LONG_SCHOOL)])
    for minute, user in enumerate(["ada.lovelace@example.org", "grace.hopper@example.org", "linus@example.org"]):
        world.event(f"t-{user}", "user.tag_added", user, minute, school=LONG_SCHOOL, tag="new")
    part = PartitionViews()
    for record in world.records:
        part.apply(record)
    monkeypatch.setattr(runs, "load_parts", lambda: [part])
    return sorted(world.reports)


def test_a_piped_runs_table_keeps_every_id_whole(three_runs):
    result = runner.invoke(cli(), ["runs", "list", "--automation", LONG_AUTOMATION])
    assert result.exit_code == 0, result.output
    for text in (*three_runs, LONG_SCHOOL, LONG_AUTOMATION, "grace.hopper@example.org"):
        assert text in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) > 80


def test_runs_list_says_when_it_shows_fewer_runs_than_there_are(three_runs):
    cut = runner.invoke(cli(), ["runs", "list", "--automation", LONG_AUTOMATION, "--limit", "2", "--format", "jsonl"])
    assert cut.exit_code == 0, cut.output
    assert len(cut.stdout.splitlines()) == 2
    assert "showing the newest 2 of 3 runs; --limit N or --all shows more" in cut.stderr
    every = runner.invoke(cli(), ["runs", "list", "--automation", LONG_AUTOMATION, "--limit", "2", "--all", "--format", "jsonl"])
    assert sorted(json.loads(line)["run_id"] for line in every.stdout.splitlines()) == three_runs
    assert every.stderr == ""


def test_one_format_vocabulary_and_the_older_words_still_work():
    assert output_format("table") == "table"
    assert output_format("jsonl") == "jsonl"
    assert output_format("json") == "jsonl"  # `list --format json` printed one object per line
    with pytest.raises(CliError, match="--format must be one of table, jsonl, json; got 'xml'"):
        output_format("xml")


def test_validate_takes_the_common_formats_and_keeps_its_old_ones(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("id: w\nschool: s1\nname: W\ntriggers:\n  - event: user.registered\n"
                    "flow:\n  - type: send_email\n    template: hi\n")
    lines = runner.invoke(definitions_app, ["validate", "--format", "jsonl", str(good), str(good)])
    assert [json.loads(line)["valid"] for line in lines.stdout.splitlines()] == [True, True]
    array = runner.invoke(definitions_app, ["validate", "--format", "json", str(good)])
    assert json.loads(array.stdout)[0]["valid"] is True
    assert runner.invoke(definitions_app, ["validate", "--format", "text", str(good)]).stdout == \
        runner.invoke(definitions_app, ["validate", "--format", "table", str(good)]).stdout
