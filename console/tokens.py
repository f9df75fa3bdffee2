"""`automations tokens ...`: API tokens (ruling 16); only their sha256 is ever stored."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from api import settings as api_config
from api.auth import TokenFileError, add_token, digest, read_tokens
from console.errors import CliError
from console.id_arguments import checked_id
from console.output import table_console

app = typer.Typer(help="API tokens: one per school, plus the operator's.", no_args_is_help=True)


def _file(path: Optional[Path]) -> Path:
    chosen = path or (Path(api_config.load().tokens_file) if api_config.load().tokens_file else None)
    if chosen is None:
        raise CliError("set AUTOMATIONS_API_TOKENS to the token file, or pass --file")
    return chosen


@app.command("add")
def add(
    school: str = typer.Argument(..., help="The school the token acts for.", callback=checked_id("school id")),
    file: Optional[Path] = typer.Option(None, "--file", help="Token file (default AUTOMATIONS_API_TOKENS)."),
) -> None:
    """Create a token for SCHOOL; it is printed once, and only its hash is kept."""
    path = _file(file)
    try:
        token = add_token(path, school)
    except TokenFileError as error:
        raise CliError(str(error)) from None
    typer.echo(token)
    typer.echo(f"stored its sha256 in {path}; this token is not shown again", err=True)


@app.command("list")
def list_tokens(file: Optional[Path] = typer.Option(None, "--file", help="Token file.")) -> None:
    """Schools with tokens, by the start of each token's hash."""
    path = _file(file)
    if not path.is_file():
        raise CliError(f"no token file at {path} (`automations tokens add SCHOOL` creates it)")
    try:
        tokens = read_tokens(path)
    except TokenFileError as error:
        raise CliError(str(error)) from None
    table = Table("school", "sha256 (start)")
    for hashed, school in sorted(tokens.items(), key=lambda item: item[1]):
        table.add_row(school, hashed[:12])
    table_console().print(table)


@app.command("operator")
def operator() -> None:
    """A new operator token, and the AUTOMATIONS_OPERATOR_TOKEN_SHA256 line for the server."""
    token = secrets.token_urlsafe(32)
    typer.echo(token)
    typer.echo(f"AUTOMATIONS_OPERATOR_TOKEN_SHA256={digest(token)}", err=True)
