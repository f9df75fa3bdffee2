"""`automations simulate`: run definitions over recorded school events, no Kafka.

Reads automation files (YAML/JSON; a directory means every such file in it)
and a JSONL stream of school events, runs `engine.simulation.simulate` with
its virtual clock, and prints every run with its status, decision history and
actions, as a table or as sorted JSON lines. The same input always prints the
same bytes. Event lines that fail the contract are reported on stderr and
left out, as the live ingest would dead-letter them.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from console.errors import CliError
from console.output import FORMAT_HELP, output_format
from console.event_files import label, numbered_events, opened
from engine.definitions import Automation, assign_ids
from engine.documents import DocumentProblem, document_problems, load_document, parse_automation
from engine.school_events import EventRejected, SchoolEvent
from engine.simulation import SimulationResult, simulate as run_simulation
from engine.validation import validate_automation

app = typer.Typer(help="Simulate automations over recorded school events (no Kafka).")
DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")
TABLE_WIDTH = 160


def load_definitions(paths: list[Path]) -> list[Automation]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in DEFINITION_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(f"no such file or directory: {path}")
    automations: list[Automation] = []
    seen: dict[str, Path] = {}
    for file in files:
        raw = load_document(file.read_text(encoding="utf-8", errors="replace"), str(file))
        if isinstance(raw, DocumentProblem):
            raise CliError(str(raw))
        parsed = document_problems(raw) or parse_automation(raw)
        if isinstance(parsed, list):
            raise CliError(f"{file}: " + "; ".join(str(p) for p in parsed))
        if parsed.id in seen:
            # As when saving: an id names one automation, whatever its school.
            raise CliError(f"{file}: the automation id {parsed.id!r} is also the one in {seen[parsed.id]}")
        seen[parsed.id] = file
        automations.append(assign_ids(parsed, lambda where, a=parsed: f"{a.id}:{where}"))
    return automations


def load_events(path: Path) -> tuple[list[SchoolEvent], list[str]]:
    events, problems = [], []
    with opened(path, "JSONL file of events") as lines:
        for number, parsed in numbered_events(lines):  # as `events send` and the HTTP ingest take them
            if isinstance(parsed, EventRejected):
                problems.append(f"{label(path)}:{number}: {parsed.reason}")
            else:
                events.append(parsed)
    return events, problems


def parse_until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--until {text!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def as_jsonl(result: SimulationResult) -> str:
    lines = [{"record": "run", **run.model_dump(mode="json")} for run in result.runs]
    lines += [{"record": "skipped", **s.model_dump(mode="json")} for s in result.skipped]
    return "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)


def _history_line(entry: dict[str, Any]) -> str:
    at = str(entry["at"])[:19].replace("T", " ")
    if entry["kind"] == "step":
        return f"{at} {entry['step_id']} ({entry['step_type']}): {entry['outcome']}"
    if entry["kind"] == "exit_checked":
        return f"{at} exit {entry['exit_id']} checked on {entry['event_id']}: {'fired' if entry['matched'] else 'no'}"
    if entry["kind"] == "run_status":
        why = entry.get("error") or entry.get("reason") or ""
        return f"{at} -> {entry['status']}" + (f" ({why})" if why else "")
    return f"{at} started"


def print_table(result: SimulationResult, console: Console) -> None:
    table = Table(title=f"{len(result.runs)} run(s), {len(result.skipped)} skipped", show_lines=True)
    for column, width in (("learner", 16), ("automation", 16), ("trigger", 18), ("status", 18)):
        table.add_column(column, max_width=width)
    table.add_column("history (UTC)", min_width=56)
    table.add_column("actions", max_width=28)
    for run in result.runs:
        outcome = run.status + (f"\nexit: {run.exit_id}" if run.exit_id else "")
        outcome += f"\n{run.error}" if run.error else ""
        table.add_row(
            f"{run.school}:{run.user}",
            run.automation_id,
            f"{run.trigger_id or '-'}\n({run.trigger_event_id})" + (f"\nreplay of {run.replay_of}" if run.replay_of else ""),
            outcome,
            "\n".join(_history_line(entry) for entry in run.history),
            "\n".join(f"{a.type} {a.template or a.tag or a.course or a.program or a.product or a.field}" for a in run.actions),
        )
    console.print(table)


def simulate(
    definitions: list[Path] = typer.Option(..., "--definitions", "-d", help="Automation file or folder; repeatable."),
    events: Path = typer.Option(..., "--events", "-e", help="School events, one JSON object per line."),
    until: str | None = typer.Option(None, "--until", help="Run the virtual clock to this instant (ISO 8601)."),
    output: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Run automations over recorded events with a virtual clock; print every run."""
    output = output_format(output)
    automations = load_definitions(definitions)
    if not automations:
        raise CliError(f"no automation files (.yaml, .yml, .json) in {', '.join(map(str, definitions))}")
    for automation in automations:
        blocking = validate_automation(automation)
        if blocking:
            # The author's dry run runs what is written, but says it could not go live.
            typer.echo(f"warning: {automation.id}: {len(blocking)} problem(s) block activation "
                       f"(first: {blocking[0]}); simulated as written", err=True)
    school_events, problems = load_events(events)
    for problem in problems:
        typer.echo(problem, err=True)
    end = parse_until(until)
    later = sum(1 for event in school_events if end is not None and event.occurred_at > end)
    if later:
        typer.echo(f"note: {later} of {len(school_events)} event(s) come after --until {until} and are left out", err=True)
    result = run_simulation(automations, school_events, end)
    if output == "jsonl":
        typer.echo(as_jsonl(result), nl=False)
    else:
        print_table(result, Console(width=TABLE_WIDTH, no_color=True, highlight=False, soft_wrap=False))


app.command("run")(simulate)


def register(root: typer.Typer) -> None:
    """Mount `simulate` as a top-level command of the root CLI."""
    root.command("simulate")(simulate)
