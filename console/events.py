"""`automations events send FILE.jsonl`: stream school events into Kafka.

Every line is checked first (`console.event_files`: the contract, the size
limit, strict UTF-8); nothing is sent when one is bad. `-` reads standard input.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from console.errors import CliError
from console.event_files import label, numbered_events, opened
from engine.school_events import EventRejected
from processors import config
from processors.ingest import send_events

app = typer.Typer(help="Send school events (JSON lines) to the school-events topic.")

MAX_PROBLEMS_SHOWN = 20


@app.command("send")
def send(file: Path = typer.Argument(..., help="A JSONL file, one school event per line; - reads standard input.")) -> None:
    """Validate every line, then send them all (nothing is sent if any line is bad)."""
    events, problems = [], []
    with opened(file) as lines:
        for number, parsed in numbered_events(lines):
            if isinstance(parsed, EventRejected):
                problems.append(f"line {number}: {parsed.reason}")
            else:
                events.append(parsed)
    source = label(file)
    if len(problems) == 1:
        raise CliError(f"{source}:{problems[0]}; nothing was sent")
    if problems:
        for problem in problems[:MAX_PROBLEMS_SHOWN]:
            typer.echo(f"{source}:{problem}", err=True)
        more = len(problems) - MAX_PROBLEMS_SHOWN
        if more > 0:
            typer.echo(f"... and {more} more", err=True)
        raise CliError(f"{len(problems)} invalid line(s) in {source}; nothing was sent")
    sent = asyncio.run(send_events(config.load(), events))
    typer.echo(f"sent {sent} event(s) to {config.load().topics.school_events}")
