"""`automations worker`: run one worker of the engine (Faust), in the foreground."""

from __future__ import annotations

import asyncio

import typer

from processors import config
from processors.kafka_io import ensure_topics

app = typer.Typer(help="Run a worker: create the topics if missing, then process until stopped.")


@app.callback(invoke_without_command=True)
def worker(
    loglevel: str = typer.Option("warn", help="crit, error, warn, info or debug."),
) -> None:
    """Run a worker until SIGINT/SIGTERM. Settings come from AUTOMATIONS_* variables."""
    settings = config.load()
    created = asyncio.run(ensure_topics(settings))
    if created:
        typer.echo(f"created topics: {', '.join(created)}")
    # Imported here: building the Faust app reads the environment and opens nothing.
    from faust import Worker

    from processors.worker import app as faust_app

    Worker(faust_app, loglevel=loglevel, quiet=True).execute_from_commandline()
