"""`automations broker start|stop|status`: the local development broker."""

from __future__ import annotations

import typer

from broker import kafka

app = typer.Typer(help="Start, stop and inspect the local Kafka broker (KRaft, 127.0.0.1).")


@app.command()
def start(
    port: int = typer.Option(None, help="Listen port (default AUTOMATIONS_BROKER_PORT or 9092)."),
    fresh: bool = typer.Option(False, help="Wipe the broker's data first (stopping it if it runs)."),
    wait: float = typer.Option(90.0, help="Seconds to wait for the broker to answer."),
) -> None:
    """Start the broker and wait until it answers Kafka requests."""
    kafka.start(port=port, wait_seconds=wait, fresh=fresh)  # prints where it listens


@app.command()
def stop() -> None:
    """Stop the broker; leaves no broker process running."""
    kafka.stop()  # prints what it did


@app.command()
def status() -> None:
    """Say whether the broker runs and where it listens."""
    typer.echo(str(kafka.status()))
