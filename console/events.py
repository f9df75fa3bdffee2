"""`automations events send FILE.jsonl`: stream school events into Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from console.errors import CliError
from processors import config
from processors.ingest import read_jsonl, send_events

app = typer.Typer(help="Send school events (JSON lines) to the school-events topic.")

MAX_PROBLEMS_SHOWN = 20


@app.command("send")
def send(file: Path = typer.Argument(..., help="A JSONL file, one school event per line.")) -> None:
    """Validate every line, then send them all (nothing is sent if any line is bad)."""
    if not file.is_file():
        raise CliError(f"{file} is a folder, not a JSONL file" if file.is_dir() else f"no such file: {file}")
    events, problems = read_jsonl(file)
    if problems:
        for problem in problems[:MAX_PROBLEMS_SHOWN]:
            typer.echo(f"{file}:{problem}", err=True)
        more = len(problems) - MAX_PROBLEMS_SHOWN
        if more > 0:
            typer.echo(f"... and {more} more", err=True)
        raise CliError(f"{len(problems)} invalid line(s) in {file}; nothing was sent")
    sent = asyncio.run(send_events(config.load(), events))
    typer.echo(f"sent {sent} event(s) to {config.load().topics.school_events}")
