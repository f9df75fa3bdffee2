"""One-line errors for the command line.

Every command raises `CliError` (or lets a known infrastructure error
through); `cli.main` turns them into `error: ...` on stderr and exit code 1,
never a traceback.
"""

from __future__ import annotations

import sys

import typer


class CliError(Exception):
    """A user-facing failure; the message is one line."""


def one_of(option: str, value, allowed) -> None:
    """Refuse an option value outside `allowed` (None: the option was left out)."""
    if value is not None and value not in allowed:
        raise CliError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")


def confirmed(question: str, yes: bool) -> None:
    """Go on only with the author's yes: `--yes`, or an answer at a terminal. Without a
    terminal to ask at (a script, CI), the command stops with the question."""
    if yes:
        return
    if sys.stdin.isatty() and typer.confirm(question, default=False):
        return
    raise CliError(f"{question} Nothing was done; add --yes to confirm.")
