"""`simulate` on a large file: progress on stderr, runs printed as they end, memory that
follows the learners and not the events, and the same bytes as printing everything at once."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import typer
from typer.testing import CliRunner

import console.simulate as simulate_command
from console.progress import Progress
from console.simulate import as_jsonl, load_definitions, load_events, register
from console.simulate_output import JsonlOutput, TableOutput, simulation_console
from engine.simulation import VirtualWorld, catalog_of, in_clock_order, play, simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def cli() -> typer.Typer:
    root = typer.Typer()
    root.command("other")(lambda: None)  # two commands, so `simulate` keeps its name
    register(root)
    return root


def copies_of_the_examples(path: Path, copies: int, user_suffix: str = "") -> Path:
    """The example stream once per copy, each for its own learners (as bench/simulate_events.py)."""
    lines = [json.loads(line) for line in (EXAMPLES / "events.jsonl").read_text().splitlines() if line.strip()]
    with path.open("w") as out:
        for copy in range(copies):
            for event in lines:
                out.write(json.dumps(dict(event, id=f"{event['id']}-{copy}", user=f"{event['user']}{user_suffix}-{copy}")) + "\n")
    return path


class Ticking:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_progress_is_quiet_at_first_then_speaks_every_few_seconds():
    said: list[str] = []
    clock = Ticking()
    progress = Progress(clock=clock, say=said.append, quiet_for=3, every=2)
    for step in range(10):
        progress.report(f"step {step}")
    assert said == ["step 2 (3 s)", "step 4 (5 s)", "step 6 (7 s)", "step 8 (9 s)"]


def test_a_long_simulation_shows_progress_on_stderr_and_prints_the_same_bytes(tmp_path, monkeypatch):
    events = copies_of_the_examples(tmp_path / "events.jsonl", 20)
    args = ["simulate", "--definitions", str(EXAMPLES / "automations"), "--events", str(events), "--format", "jsonl"]
    quiet = runner.invoke(cli(), args)
    monkeypatch.setattr(simulate_command, "Progress", lambda: Progress(clock=Ticking()))
    watched = runner.invoke(cli(), args)
    assert watched.exit_code == 0, watched.output
    assert quiet.stderr == ""
    lines = watched.stderr.splitlines()
    assert any(line.startswith("read ") and " lines " in line for line in lines), lines
    assert any(line.startswith("simulated ") and "of 380 events" in line for line in lines), lines
    assert watched.stdout == quiet.stdout


def test_streamed_jsonl_is_the_whole_result_printed_at_once(tmp_path):
    automations = load_definitions([EXAMPLES / "automations"])
    events, _ = load_events(copies_of_the_examples(tmp_path / "events.jsonl", 3))
    out = io.StringIO()
    printer = JsonlOutput(out)
    world = VirtualWorld(catalog_of(automations), sink=printer)
    play(world, in_clock_order(events))
    printer.finish(world.numbered_report())
    assert out.getvalue() == as_jsonl(simulate(automations, events))
    assert world.log == [] and world.skipped == [] and world.declined == []


def printed_table(events: list, rows_per_slice: int) -> str:
    out = io.StringIO()
    printer = TableOutput(simulation_console(out), rows_per_slice=rows_per_slice)
    world = VirtualWorld(catalog_of(load_definitions([EXAMPLES / "automations"])), sink=printer)
    play(world, in_clock_order(events))
    printer.finish(world.numbered_report())
    return out.getvalue()


def test_a_table_printed_in_slices_is_the_table_printed_at_once(tmp_path):
    events, _ = load_events(EXAMPLES / "events.jsonl")
    whole = printed_table(events, rows_per_slice=1000)
    assert printed_table(events, rows_per_slice=3) == whole
    assert whole.count("┏") == 1 and whole.count("┡") == 1  # one title, one header
    # The examples' table is already wider than the console and cut at 160 columns; with
    # learner ids too long to wrap, many rows are too: cut alike.
    events, _ = load_events(copies_of_the_examples(tmp_path / "long.jsonl", 2, user_suffix="-of-the-spring-cohort"))
    whole = printed_table(events, rows_per_slice=1000)
    assert {len(line) for line in whole.splitlines()} == {160}
    assert printed_table(events, rows_per_slice=4) == whole


def test_memory_follows_the_learners_not_the_events(tmp_path):
    events = copies_of_the_examples(tmp_path / "events.jsonl", 100)  # 1,900 events, 500 learners
    args = ["simulate", "--definitions", str(EXAMPLES / "automations"), "--events", str(events), "--format", "jsonl"]
    tracemalloc.start()
    try:
        result = runner.invoke(cli(), args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    # Holding every event, run, trace and log entry took about 20 KB per event.
    assert peak / 1900 < 6_000, f"{peak / 1900:.0f} bytes per event"
