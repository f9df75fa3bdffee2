"""`automations api`: run the HTTP API server in the foreground (Ctrl-C stops it)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from api import settings as api_config
from console.errors import CliError
from processors import config
from processors.kafka_io import ensure_topics

app = typer.Typer(help="Run the HTTP API server: views of the run-status topic, operator actions, ingest.")


@app.callback(invoke_without_command=True)
def api(
    host: Optional[str] = typer.Option(None, help="Address to listen on (default AUTOMATIONS_API_HOST or 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="Port (default AUTOMATIONS_API_PORT or 8080)."),
) -> None:
    """Serve until SIGINT/SIGTERM. Tokens: AUTOMATIONS_API_TOKENS, AUTOMATIONS_OPERATOR_TOKEN_SHA256."""
    if port is not None and not 1 <= port <= 65535:
        raise CliError(f"--port must be a whole number from 1 to 65535, got {port}")
    settings = config.load()
    api_settings = api_config.load()
    api_settings = replace(api_settings, host=host or api_settings.host, port=port or api_settings.port)
    if not api_settings.tokens_file and not api_settings.operator_token_sha256:
        typer.echo("warning: no tokens configured (AUTOMATIONS_API_TOKENS, AUTOMATIONS_OPERATOR_TOKEN_SHA256): "
                   "every request but /health, /ready and /openapi.json is refused", err=True)
    elif api_settings.tokens_file and not Path(api_settings.tokens_file).is_file():
        typer.echo(f"warning: no token file at {api_settings.tokens_file} (AUTOMATIONS_API_TOKENS) yet: school tokens "
                   "are refused until `automations tokens add` creates it (it is read again when it changes)", err=True)
    asyncio.run(ensure_topics(settings))
    from api.app import serve

    def listening() -> None:
        typer.echo(f"API on http://{api_settings.host}:{api_settings.port} (OpenAPI at /openapi.json)")

    try:
        serve(settings, api_settings, announce=listening)
    except OSError as error:  # the port is taken, the host is no address of this machine
        raise CliError(f"cannot listen on {api_settings.host}:{api_settings.port}: {error.strerror or error}") from None
