"""`automations simulate`: run definitions over recorded school events, no Kafka.

Reads automation files (YAML/JSON; a directory means every such file in it)
and a JSONL stream of school events, runs `engine.simulation.simulate` with
its virtual clock, and prints every run with its status, decision history and
actions, as a table or as sorted JSON lines. The same input always prints the
same bytes. Event lines that fail the contract are reported on stderr and
left out, as the live ingest would dead-letter them. A large file is read
into a spool (`console.simulate_input`) and the runs are printed as they end
(`console.simulate_output`), so memory follows the learners, not the events;
past a few seconds, progress goes to stderr.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import typer

from console.errors import CliError
from console.event_files import label, numbered_events, opened
from console.output import FORMAT_HELP, JSONL, output_format
from console.progress import Progress
from console.simulate_input import EventSpool
from console.simulate_output import JsonlOutput, TableOutput, jsonl_line
from engine.definitions import Automation, assign_ids
from engine.documents import DocumentProblem, document_problems, load_document, parse_automation
from engine.school_events import EventRejected, SchoolEvent
from engine.events import EntryDeclined, RunSkipped
from engine.simulation import RunReport, SimulationResult, VirtualWorld, catalog_of, play
from engine.validation import validate_automation

app = typer.Typer(help="Simulate automations over recorded school events (no Kafka).")
DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


def load_definitions(paths: list[Path]) -> list[Automation]:
    """The automations of the files, each item without an id given one (`automation:path`,
    so the output names where it is in the file)."""
    return [with_simulation_ids(written) for written in read_definitions(paths)]


def with_simulation_ids(written: Automation) -> Automation:
    return assign_ids(written, lambda where: f"{written.id}:{where}")


def read_definitions(paths: list[Path]) -> list[Automation]:
    """The automations as the files write them."""
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
        automations.append(parsed)
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
    """The JSONL output of a whole result (what `--format jsonl` prints, streamed)."""
    lines = [jsonl_line("run", run) for run in result.runs] + [jsonl_line("skipped", s) for s in result.skipped]
    return "".join(lines)


def simulate(
    definitions: list[Path] = typer.Option(..., "--definitions", "-d", help="Automation file or folder; repeatable."),
    events: Path = typer.Option(..., "--events", "-e", help="School events, one JSON object per line."),
    until: str | None = typer.Option(None, "--until", help="Run the virtual clock to this instant (ISO 8601)."),
    output: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Run automations over recorded events with a virtual clock; print every run."""
    output = output_format(output)
    written = read_definitions(definitions)
    if not written:
        raise CliError(f"no automation files (.yaml, .yml, .json) in {', '.join(map(str, definitions))}")
    for automation in written:  # as written: the ids the simulation gives are no problem of the file
        blocking = validate_automation(automation)
        if blocking:
            # The author's dry run runs what is written, but says it could not go live.
            typer.echo(f"warning: {automation.id}: {len(blocking)} problem(s) block activation "
                       f"(first: {blocking[0]}); simulated as written", err=True)
    end = parse_until(until)
    progress = Progress()
    spool = EventSpool(events, end, lambda problem: typer.echo(problem, err=True), progress)
    try:
        if spool.after_until:
            typer.echo(f"note: {spool.after_until} of {spool.count} event(s) come after --until {until} and are left out",
                       err=True)
        printer = JsonlOutput() if output == JSONL else TableOutput(progress=progress)
        watched = Watched(printer, spool.count, progress)
        world = VirtualWorld(catalog_of(map(with_simulation_ids, written)), sink=watched)
        play(world, watched.counted(spool.in_clock_order()), end)
        printer.finish(world.numbered_report())
    finally:
        spool.close()


class Watched:
    """The printer as the world's sink, saying on stderr now and then how far the simulation is:
    events done while they go in, runs ended also after the last one (timers still firing)."""

    def __init__(self, printer: JsonlOutput | TableOutput, total: int, progress: Progress):
        self.printer, self.total, self.progress = printer, total, progress
        self.events_done = 0
        self.runs_ended = 0

    def counted(self, events: Iterator[SchoolEvent]) -> Iterator[SchoolEvent]:
        for event in events:
            self._tell()
            yield event
            self.events_done += 1

    def run_ended(self, sequence: int, run: RunReport) -> None:
        self.runs_ended += 1
        self._tell()
        self.printer.run_ended(sequence, run)

    def run_skipped(self, skipped: RunSkipped) -> None:
        self.printer.run_skipped(skipped)

    def entry_declined(self, declined: EntryDeclined) -> None:
        self.printer.entry_declined(declined)

    def _tell(self) -> None:
        if self.progress.due():
            share = 100 * self.events_done // max(self.total, 1)
            self.progress.report(f"simulated {self.events_done:,} of {self.total:,} events ({share}%), "
                                 f"{self.runs_ended:,} runs ended")


app.command("run")(simulate)


def register(root: typer.Typer) -> None:
    """Mount `simulate` as a top-level command of the root CLI."""
    root.command("simulate")(simulate)
