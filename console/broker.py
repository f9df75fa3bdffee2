"""`automations broker start|stop|status|tool`: the local development broker, and
Kafka's own command-line tools from its jars (`broker.tools`)."""

from __future__ import annotations

import typer

from broker import kafka, tools

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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def tool(ctx: typer.Context, name: str = typer.Argument(None, help="kafka-consumer-groups, kafka-configs, ...")) -> None:
    """Run one of Kafka's tools: NAME is Kafka's bin/NAME.sh; without NAME, list them.

    ARGS go to the tool as they are (`tool kafka-configs --help` is the tool's own help);
    without --bootstrap-server it talks to AUTOMATIONS_KAFKA_BOOTSTRAP, else the local broker."""
    if name is None or name in ("--help", "-h"):
        typer.echo("automations broker tool NAME [ARGS]...: " + tools.listing())
        return
    raise typer.Exit(tools.run(name, ctx.args))
