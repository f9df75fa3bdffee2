"""The README's SQL recipes for analysts, run as written with sqlite3 and psql on both stores.

The lines are taken from the README's "Querying the projections" section;
only the database (the README's default SQLite file, `$AUTOMATIONS_PROJECTIONS_URL`)
is pointed at a store folded from the mixed flow, and the answers checked
against the in-memory fold's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from projections import queries
from projections.store import ProjectionStore
from tests.unit.projection_world import RecordingWorld, mixed_automations, play_mixed_flow
from tests.unit.test_projection_store import fold_into, in_memory

README = Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_FILE = "var/projections/automations.sqlite3"


def recipes(tool: str) -> list[str]:
    section = README.read_text().split("## Querying the projections (analysts)", 1)[1].split("\n## ", 1)[0]
    return [line for line in re.findall(r"^(?:sqlite3|psql) .*$", section, re.MULTILINE) if line.startswith(tool + " ")]


@pytest.fixture
def world() -> RecordingWorld:
    made = RecordingWorld(mixed_automations())
    play_mixed_flow(made)
    return made


def run(line: str, cwd: Path, env: dict) -> str:
    assert shutil.which(line.split()[0]), f"{line.split()[0]} is not installed (scripts/setup.sh)"
    done = subprocess.run(["bash", "-c", line], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def expected_counts(world) -> dict[str, int]:
    stats = queries.snapshot(in_memory(world))["automations"]
    return {key.split("/", 1)[1]: value["stats"]["times_executed"] for key, value in stats.items()}


def test_the_sqlite3_recipes_answer_from_the_default_file(world, tmp_path):
    (tmp_path / DEFAULT_FILE).parent.mkdir(parents=True)
    store = ProjectionStore(f"sqlite:///{tmp_path / DEFAULT_FILE}")
    store.migrate()
    fold_into(store, world.partitions, 5)
    times, funnel = recipes("sqlite3")
    rows = [line.split() for line in run(times, tmp_path, {}).splitlines()[2:]]
    assert {automation: int(count) for _day, automation, count in rows} == expected_counts(world)
    steps = {line.split()[0]: line.split()[1:] for line in run(funnel, tmp_path, {}).splitlines()[2:]}
    assert steps["pause"][:2] == ["3", "2"] and steps["intro"][:2] == ["3", "0"]


def test_the_psql_recipes_answer_from_the_url(world, postgres, tmp_path):
    url = postgres.create_database("report_views")
    store = ProjectionStore(url)
    store.migrate()
    fold_into(store, world.partitions, 5)
    times, statuses = recipes("psql")
    env = {"AUTOMATIONS_PROJECTIONS_URL": url}
    rows = [[cell.strip() for cell in line.split("|")] for line in run(times, tmp_path, env).splitlines()[2:] if "|" in line]
    assert {automation: int(count) for _day, automation, count in rows} == expected_counts(world)
    counted = {cells[0]: int(cells[1]) for cells in
               ([c.strip() for c in line.split("|")] for line in run(statuses, tmp_path, env).splitlines()[2:] if "|" in line)}
    runs = queries.snapshot(in_memory(world))["runs"].values()
    assert counted == {status: sum(1 for r in runs if r["status"] == status) for status in {r["status"] for r in runs}}
