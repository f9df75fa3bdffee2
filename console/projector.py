"""`automations projector run`: fold the run-status topic into the projections' database.

For API servers started with AUTOMATIONS_PROJECTOR=off that share one
database (AUTOMATIONS_PROJECTIONS_URL): run as many of these as needed, they
share the partitions as one consumer group (`projections.consumer`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Optional

import typer

from processors import config
from processors.kafka_io import ensure_topics

app = typer.Typer(help="Fold the run-status topic into the projections' database (SQLite or PostgreSQL).", no_args_is_help=True)


@app.command("run")
def run(
    group: Optional[str] = typer.Option(None, help="Consumer group (default AUTOMATIONS_PROJECTOR_GROUP or <app id>-projector)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Clear the projections and fold from offset 0 (progress in the log)."),
) -> None:
    """Fold until SIGINT/SIGTERM; the database is AUTOMATIONS_PROJECTIONS_URL."""
    import os

    from projections.consumer import run_projector

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = config.load()
    asyncio.run(ensure_topics(settings))
    chosen = group or os.environ.get("AUTOMATIONS_PROJECTOR_GROUP") or f"{settings.app_id}-projector"

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_projector(settings, chosen, rebuild=rebuild, stop=stop)

    asyncio.run(main())
