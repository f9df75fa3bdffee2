"""`automations worker`: run one worker of the engine (Faust), in the foreground."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import typer

from console.errors import CliError, one_of
from processors import config
from processors.kafka_io import ensure_topics, other_engines

LOG_LEVELS = ("crit", "error", "warn", "info", "debug")


def _web_port_free(port: int) -> None:
    """Faust would find a taken port only after joining the group, and end with a traceback."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise CliError(f"the worker's web port 127.0.0.1:{port} is taken ({error.strerror}); "
                           "set AUTOMATIONS_WEB_PORT to a free one") from None


def data_folder_ready(path: str) -> None:
    """Faust creates only the last folder of its data path, and ends with a traceback without its parents."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create the worker's data folder {path} ({error.strerror or error}); "
                       "set AUTOMATIONS_DATA_DIR to a folder the worker may write") from None


app = typer.Typer(help="Run a worker: create the topics if missing, then process until stopped.")


@app.callback(invoke_without_command=True)
def worker(
    loglevel: str = typer.Option("warn", help="crit, error, warn, info or debug."),
) -> None:
    """Run a worker until SIGINT/SIGTERM. Settings come from AUTOMATIONS_* variables."""
    one_of("--loglevel", loglevel, LOG_LEVELS)
    settings = config.load()
    _web_port_free(settings.web_port)
    data_folder_ready(settings.data_dir)
    created = asyncio.run(ensure_topics(settings))
    if created:
        typer.echo(f"created topics: {', '.join(created)}")
    others = asyncio.run(other_engines(settings))
    if others:
        # A mistyped AUTOMATIONS_APP_ID is a new engine: empty state, every event from offset 0.
        typer.echo(f"warning: consumer group(s) {', '.join(others)} also read {settings.topics.school_events}; this "
                   f"worker's AUTOMATIONS_APP_ID is {settings.app_id}. If an engine still runs under another app id, "
                   "both decide every event and send its actions twice (a group an earlier app id left is harmless)",
                   err=True)
    # Imported here: building the Faust app reads the environment and opens nothing.
    from faust import Worker

    from processors.worker import app as faust_app

    Worker(faust_app, loglevel=loglevel, quiet=True).execute_from_commandline()
