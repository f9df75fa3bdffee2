"""One-line errors for the command line.

Every command raises `CliError` (or lets a known infrastructure error
through); `cli.main` turns them into `error: ...` on stderr and exit code 1,
never a traceback.
"""

from __future__ import annotations


class CliError(Exception):
    """A user-facing failure; the message is one line."""
