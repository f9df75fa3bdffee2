"""Author commands for automation definitions: `validate`, `schema`, `templates`, `new`.

Owns reading definition files for the command line (`read_definition`: a
file to a model and problems located by line and column, never a
traceback), the template catalogue in `examples/templates/`, and these
offline commands, which need no broker. The commands that go through Kafka
(apply, activate, list, delete...) are `console.lifecycle`'s.

Mounted by the root CLI at the top level (`register(root)`), or as a
sub-app (`app`). Problems are the output of `validate`; failures raise
`CliError`, which `cli.main` prints as one line `error: ...` (exit 1).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
import typer

from console.errors import CliError
from console.id_arguments import checked_id
from console.output import JSONL, TABLE, output_format
from engine.definitions import Automation
from engine.documents import DocumentProblem, load_document, locator
from engine.json_schema import schema_text
from engine.validation import validate_document

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "examples" / "templates"

app = typer.Typer(
    help="Write automations as JSON or YAML files, check them, start from a template.",
    no_args_is_help=True,
    add_completion=False,
)


# `validate` prints problems as text (`table`, the word every listing uses; `text` is its
# older name) or a JSON object per file per line; `json` stays the one JSON array it
# always printed, for the tools that read it.
VALIDATE_ALIASES = {"text": TABLE}
VALIDATE_ARRAY = "json"


@dataclass(frozen=True)
class LocatedProblem:
    """A problem in one file: its document path, and where the text is, when known."""

    message: str
    path: str = ""
    line: int | None = None
    column: int | None = None

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message, "line": self.line, "column": self.column}


@dataclass(frozen=True)
class FileReport:
    file: str
    automation: Automation | None
    problems: list[LocatedProblem] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.problems:
            return [f"{self.file}: ok"]
        out = []
        for problem in self.problems:
            where = ":".join(str(p) for p in (self.file, problem.line, problem.column) if p is not None)
            out.append(f"{where}: {problem.path}: {problem.message}" if problem.path else f"{where}: {problem.message}")
        return out


def read_definition(file: str) -> FileReport:
    """Read, parse and validate one file (`-` is standard input); never raises on bad input."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        return FileReport(file, None, [LocatedProblem("no such file.")])
    except IsADirectoryError:
        return FileReport(file, None, [LocatedProblem("this is a folder, not a file.")])
    except UnicodeDecodeError:
        return FileReport(file, None, [LocatedProblem("the file is not UTF-8 text.")])
    except OSError as error:
        return FileReport(file, None, [LocatedProblem(f"cannot be read ({error.strerror}).")])
    loaded = load_document(text, file)
    if isinstance(loaded, DocumentProblem):
        return FileReport(file, None, [LocatedProblem(loaded.message, "", loaded.line, loaded.column)])
    automation, problems = validate_document(loaded)
    located, where = [], locator(text)
    for problem in problems:
        line, column = where(problem.path) or (None, None)
        located.append(LocatedProblem(problem.message, problem.path, line, column))
    return FileReport(file, automation, located)


# ---------------------------------------------------------------- offline commands


@app.command("validate")
def validate(
    files: list[str] = typer.Argument(..., help="Definition files (.json, .yaml, .yml); - reads standard input."),
    output: str = typer.Option(TABLE, "--format", help="table (text), or jsonl (one object per file per line), "
                                                       "or json (one array of them) for tools."),
) -> None:
    """Check files against every rule activation needs; exit 1 if any has a problem."""
    output = output if output == VALIDATE_ARRAY else output_format(output, VALIDATE_ALIASES)
    reports = [read_definition(file) for file in files]
    summaries = [{"file": r.file, "valid": not r.problems, "problems": [p.as_dict() for p in r.problems]} for r in reports]
    if output == JSONL:
        for summary in summaries:
            typer.echo(json.dumps(summary, ensure_ascii=False))
    elif output == VALIDATE_ARRAY:
        typer.echo(json.dumps(summaries, indent=2, ensure_ascii=False))
    else:
        for report in reports:
            for line in report.lines():
                typer.echo(line)
    failed = [r for r in reports if r.problems]
    if failed:
        count = sum(len(r.problems) for r in failed)
        raise CliError(f"{count} problem(s) in {len(failed)} of {len(reports)} file(s)")


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of automation files (for editors and other tools)."""
    typer.echo(schema_text(), nl=False)


@app.command("templates")
def templates() -> None:
    """List the templates `new --template NAME` starts from."""
    for name, path in template_files().items():
        typer.echo(f"{name:<20} {_summary(path)}")


@app.command("new")
def new(
    template: str = typer.Option(..., "--template", help="A template name (see `templates`)."),
    automation_id: str | None = typer.Option(None, "--id", help="The new automation's id.", callback=checked_id("--id")),
    school: str | None = typer.Option(None, "--school", help="Your school's id.", callback=checked_id("--school")),
    name: str | None = typer.Option(None, "--name", help="A name for the new automation."),
) -> None:
    """Print a new automation, as YAML, from a template."""
    files = template_files()
    if template not in files:
        raise CliError(f"unknown template {template!r}; choose one of: {', '.join(files)}")
    text = files[template].read_text(encoding="utf-8")
    changes = {"id": automation_id, "school": school, "name": name}
    typer.echo(fill_in(text, {k: v for k, v in changes.items() if v is not None}), nl=False)


def register(root: typer.Typer) -> None:
    """Add these commands to the root CLI's top level (`automations validate ...`)."""
    root.command("validate")(validate)
    root.command("schema")(schema)
    root.command("templates")(templates)
    root.command("new")(new)


# ---------------------------------------------------------------- templates


def template_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted(TEMPLATES_DIR.glob("*.yaml"))}


def fill_in(text: str, values: dict[str, str]) -> str:
    """Replace top-level `id:`, `school:`, `name:` values, keeping the template's comments."""
    for key, value in values.items():
        text, count = re.subn(
            rf"^{key}:.*$", lambda _: f"{key}: {json.dumps(value, ensure_ascii=False)}", text, count=1, flags=re.M
        )
        if count != 1:
            raise CliError(f"the template has no top-level {key!r} to fill in")
    return text


def _summary(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    return first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
