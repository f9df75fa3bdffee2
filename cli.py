"""The `automations` command: the author's, operator's and platform team's CLI.

This file only assembles the sub-commands that live in `console/` and turns
known failures into one-line errors (`error: ...`, exit code 1): a missing
file, a bad line, a broker that is not running never print a traceback.
Run it as `automations ...` once installed, or `python cli.py ...`.
"""

from __future__ import annotations

import importlib
import sys

import typer

from console.errors import CliError

app = typer.Typer(
    help="Automations for online schools, on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (module, name): modules expose a Typer `app`; mounted as `automations NAME ...`.
SUB_APPS = [
    ("console.broker", "broker"),
    ("console.events", "events"),
    ("console.worker", "worker"),
    ("console.demo", "demo"),
]
# Modules whose `register(app)` adds top-level commands (validate, simulate, ...).
TOP_LEVEL = ["console.lifecycle"]


def _mount() -> None:
    for module_name, name in SUB_APPS:
        module = importlib.import_module(module_name)
        app.add_typer(module.app, name=name)
    for module_name in TOP_LEVEL:
        importlib.import_module(module_name).register(app)


def _known_errors() -> tuple[type[BaseException], ...]:
    from broker.kafka import BrokerError
    from processors.kafka_io import BrokerUnavailable

    return (CliError, BrokerError, BrokerUnavailable, FileNotFoundError, PermissionError)


def main(argv: list[str] | None = None) -> int:
    _mount()
    try:
        app(args=argv, standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except Exception as error:  # noqa: BLE001 - the edge that keeps tracebacks from users
        import click

        if isinstance(error, click.ClickException):
            error.show()
            return error.exit_code
        if isinstance(error, _known_errors()):
            typer.echo(f"error: {error}", err=True)
            for line in getattr(error, "details", ()):
                typer.echo(f"  {line}", err=True)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
