"""How the CLI's commands print: one `--format` vocabulary, and tables whole when piped.

Owns the formats every listing command takes (`table` for people, `jsonl`,
one JSON object per line, for scripts; older words stay accepted so scripts
written against them keep working), the console tables are printed on (a pipe
or a file gets every column whole instead of rich's 80 columns, which cut
run ids short), and the note a listing prints when it shows fewer rows than
there are.
"""

from __future__ import annotations

import typer
from rich.console import Console

from console.errors import CliError

TABLE = "table"
JSONL = "jsonl"
FORMATS = (TABLE, JSONL)
# Older words for the same formats: `list --format json` printed one object per line.
ALIASES = {"json": JSONL}
FORMAT_HELP = "table, or jsonl (one JSON object per line) for scripts."
# Wide enough for any row the commands print (ids are at most 200 characters); a table
# takes only the width its cells need, so this is a cap, not padding.
PIPED_WIDTH = 10_000


def output_format(value: str, aliases: dict[str, str] = ALIASES) -> str:
    """The format `--format value` names (an alias gives its format), or a CliError."""
    value = aliases.get(value, value)
    if value not in FORMATS:
        words = ", ".join([*FORMATS, *aliases])
        raise CliError(f"--format must be one of {words}; got {value!r}")
    return value


def table_console() -> Console:
    """The terminal's width at a terminal; whole rows in a pipe or a file."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=PIPED_WIDTH)


def say_if_cut(shown: int, total: int, what: str) -> None:
    """On stderr (stdout may be a script's input): fewer rows shown than there are."""
    if shown < total:
        typer.echo(f"note: showing the newest {shown} of {total} {what}; --limit N or --all shows more", err=True)
