"""One-line errors for the command line.

Every command raises `CliError` (or lets a known infrastructure error
through); `cli.main` turns them into `error: ...` on stderr and exit code 1,
never a traceback.
"""

from __future__ import annotations


class CliError(Exception):
    """A user-facing failure; the message is one line."""


def one_of(option: str, value, allowed) -> None:
    """Refuse an option value outside `allowed` (None: the option was left out)."""
    if value is not None and value not in allowed:
        raise CliError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")
