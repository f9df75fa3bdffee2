"""The `automations` command: the author's, operator's and platform team's CLI.

This file only assembles the sub-commands that live in `console/` and turns
known failures into one-line errors (`error: ...`, exit code 1): a missing
file, a bad line, a broker that is not running never print a traceback.
Run it as `automations ...` once installed, or `python cli.py ...`.
"""

from __future__ import annotations

import importlib
import logging
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
    ("console.runs", "runs"),
    ("console.steps", "steps"),
    ("console.partitions", "partitions"),
    ("console.dead_letters", "dead-letters"),
    ("console.api", "api"),
    ("console.projector", "projector"),
    ("console.tokens", "tokens"),
]
# Modules whose `register(app)` adds top-level commands (validate, simulate, ...).
TOP_LEVEL = ["console.definitions", "console.lifecycle", "console.simulate", "console.decode"]


def _mount() -> None:
    for module_name, name in SUB_APPS:
        module = importlib.import_module(module_name)
        app.add_typer(module.app, name=name)
    for module_name in TOP_LEVEL:
        importlib.import_module(module_name).register(app)


def _known_errors() -> tuple[type[BaseException], ...]:
    from aiokafka.errors import KafkaError

    from api.auth import TokenFileError
    from broker.kafka import BrokerError
    from processors.config import ConfigError
    from processors.kafka_io import BrokerUnavailable, MissingTopic, PartitionsMismatch
    from schemas.confluent import RegistryUnavailable

    return (
        CliError, BrokerError, BrokerUnavailable, MissingTopic, PartitionsMismatch, ConfigError, KafkaError, TokenFileError,
        RegistryUnavailable,
        FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
    )


def main(argv: list[str] | None = None) -> int:
    # aiokafka logs each failed connection attempt; the CLI reports one line instead.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    _mount()
    try:
        # Standalone mode: click prints usage errors itself and ends with SystemExit.
        app(args=argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except _known_errors() as error:
        typer.echo(f"error: {error}", err=True)
        for line in getattr(error, "details", ()):
            typer.echo(f"  {line}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
