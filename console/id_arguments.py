"""Ids given on the command line: checked before a command reads or writes anything.

Owns the typer callbacks that hold an argument or option to the id pattern of
`engine.identifiers`, so `automations activate ../../etc/passwd` stops with
one line (`error: automation id '../../etc/passwd' is not a valid id: ...`,
exit code 1) instead of looking the text up or writing it to a topic.
"""

from __future__ import annotations

from typing import Callable, Optional

from console.errors import CliError
from engine.identifiers import id_problem


def checked_id(what: str) -> Callable[[Optional[str]], Optional[str]]:
    """A callback for an id argument or option; a left-out option or a blank one passes
    (the command says what it needs then)."""

    def check(value: Optional[str]) -> Optional[str]:
        if value is None or not value.strip():
            return value
        problem = id_problem(what, value)
        if problem:
            raise CliError(problem)
        return value

    return check
