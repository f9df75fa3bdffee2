"""The author's commands that go through Kafka: apply, activate, list, delete...

Each command reads the definitions topic, lets `engine.lifecycle` decide and
appends the resulting records (`processors.definitions_log`); nothing is
written anywhere else. A refusal prints its reason and every problem with its
path, and exits 1.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from console.definitions import read_definition
from console.errors import CliError, confirmed, one_of
from console.id_arguments import checked_id
from console.output import FORMAT_HELP, JSONL, output_format, table_console
from console.topic_views import load_parts
from engine import lifecycle as lc
from engine.definitions import Automation, assign_ids, iter_steps
from engine.validation import validate_automation
from processors import config, definitions_log
from processors.kafka_io import read_to_end
from projections.automation_stats import fold
from schemas.codec import decode

console = table_console()

AUTOMATION_ID = typer.Argument(..., help="The automation's id.", callback=checked_id("automation id"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def read_automation(path: Path) -> Automation:
    """Load and parse one definition file; shape problems are a CliError, listed with lines."""
    report = read_definition(str(path))
    if report.automation is None:
        for line in report.lines():
            typer.echo(line, err=True)
        raise CliError(f"{path} is not a valid automation ({len(report.problems)} problem(s))")
    return report.automation


def _items(automation: Automation) -> dict[str, tuple[str | None, str, str]]:
    """(id, kind, content) of every step, trigger and exit by its document path: the kind
    is a step's type or the event a trigger or exit is about, the content what it says
    besides its id (a branch's own conditions, not the steps it holds)."""

    def content(item) -> str:
        return repr(sorted(item.model_dump(exclude={"id", "yes", "no"}, mode="json").items()))

    found = {path: (step.id, step.type, content(step)) for path, step in iter_steps(automation.flow)}
    found.update({f"triggers[{i}]": (t.id, t.event, content(t)) for i, t in enumerate(automation.triggers)})
    found.update({f"exits[{i}]": (x.id, x.event, content(x)) for i, x in enumerate(automation.exits)})
    return found


def _section(path: str) -> str:
    return path.split("[", 1)[0]


def with_ids(automation: Automation, current: Automation | None) -> Automation:
    """Fill missing ids from the saved version, so that re-applying a file written
    without ids keeps learners' positions: first the saved id of an item that says
    the same (a step moved by an insertion keeps its id), then the saved id at the
    same place if it is the same kind of thing (a wait whose days changed). Never an
    id the file gives another item or one already reused: a step added in front of
    others must not take the id of the wait a learner is in. The rest get new ids."""
    saved = _items(current) if current is not None else {}
    written = _items(automation)
    taken = {item_id for item_id, _, _ in written.values() if item_id}
    missing = [path for path, (item_id, _, _) in written.items() if not item_id]
    chosen: dict[str, str] = {}
    for path in missing:  # the same content, in the same section (flow, triggers, exits)
        _, kind, content = written[path]
        for old_path, (old_id, old_kind, old_content) in saved.items():
            if (old_id not in taken and _section(old_path) == _section(path)
                    and (old_kind, old_content) == (kind, content)):
                chosen[path] = old_id
                taken.add(old_id)
                break
    for path in missing:  # the same place, the same kind
        old_id, old_kind, _ = saved.get(path, (None, None, None))
        if path not in chosen and old_id is not None and old_id not in taken and old_kind == written[path][1]:
            chosen[path] = old_id
            taken.add(old_id)
    return assign_ids(automation, lambda path: chosen.get(path) or uuid.uuid4().hex[:10])


def _run(command) -> tuple[list, lc.DefinitionsState]:
    result = asyncio.run(definitions_log.execute(config.load(), command))
    if isinstance(result, lc.Rejected):
        for problem in result.problems:
            typer.echo(f"  {problem}", err=True)
        raise CliError(result.reason)
    return result


def _state() -> lc.DefinitionsState:
    return asyncio.run(definitions_log.load_state(config.load()))


def _get(automation_id: str) -> Automation:
    automation = _state().automations.get(automation_id)
    if automation is None:
        raise CliError(f"no automation '{automation_id}' (see `automations list`)")
    return automation


def apply(
    files: list[Path] = typer.Argument(..., help="Definition files (YAML or JSON)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Confirm that learners waiting in a wait step the edit "
                             "removes move on to the next step at once."),
) -> None:
    """Save definitions (create or edit). Invalid ones are saved inactive, with their problems."""
    automations = [read_automation(path) for path in files]
    state = _state()
    # Every file's question first: a refusal of the last must not leave the first saved.
    for automation in automations:
        current = state.automations.get(automation.id)
        if current is not None:
            _confirm_moving_on(current, with_ids(automation, current), yes)
    for automation in automations:
        automation = with_ids(automation, state.automations.get(automation.id))
        _, state = _run(lc.SaveAutomation(automation=automation, now=_now()))
        saved = state.automations[automation.id]
        typer.echo(f"saved {saved.id} (version {saved.version}, {saved.status})")
        problems = validate_automation(saved)
        if problems:
            typer.echo(f"  {len(problems)} problem(s) block activation:")
            for problem in problems:
                typer.echo(f"  {problem}")


def _confirm_moving_on(current: Automation, edited: Automation, yes: bool) -> None:
    """The guide's confirmation before a wait step with learners in it is deleted. The edit
    and the moving on are one record: saved together, or (refused, failed) neither is."""
    removed = lc.removed_step_ids(current, edited)
    waits = [step.id for _, step in iter_steps(current.flow) if step.id in removed and step.type.startswith("wait_")]
    if not waits:
        return
    waiting = load_parts().waiting_by_step(current.school, current.id)
    inside = {step_id: waiting[step_id] for step_id in waits if waiting.get(step_id)}
    if inside:
        where = ", ".join(f"{count} in {step_id!r}" for step_id, count in inside.items())
        confirmed(f"{current.id}: learners are waiting in wait steps this edit removes ({where}); "
                  "saving moves them on to the next step at once.", yes)


def activate(automation_id: str = AUTOMATION_ID) -> None:
    """Start accepting new learners (events from now on; ruling 2)."""
    _, state = _run(lc.ActivateAutomation(automation_id=automation_id, now=_now()))
    typer.echo(f"activated {automation_id} (version {state.automations[automation_id].version})")


def deactivate(automation_id: str = AUTOMATION_ID) -> None:
    """Stop new entries; learners inside finish their path."""
    _run(lc.DeactivateAutomation(automation_id=automation_id, now=_now()))
    typer.echo(f"deactivated {automation_id}")


def _stats() -> dict:
    async def records():
        return [decode("run_status", r.value) async for r in read_to_end(config.load(), config.load().topics.run_status)]

    return fold(asyncio.run(records()))


def list_automations(
    search: Optional[str] = typer.Option(None, help="Only names or ids containing this text."),
    status: Optional[str] = typer.Option(None, help="active, inactive or finishing."),
    school: Optional[str] = typer.Option(None, help="Only this school's automations.", callback=checked_id("school id")),
    output: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """The automations page: name, status, times executed, last edited."""
    one_of("--status", status, ("active", "inactive", "finishing"))
    output = output_format(output)
    stats = _stats()
    rows = []
    for automation in sorted(_state().automations.values(), key=lambda a: (a.school, a.name)):
        if search and search.lower() not in f"{automation.name} {automation.id}".lower():
            continue
        if (status and automation.status != status) or (school and automation.school != school):
            continue
        figures = stats.get((automation.school, automation.id))
        rows.append({
            "id": automation.id,
            "name": automation.name,
            "school": automation.school,
            "status": automation.status,
            "times_executed": figures.times_executed if figures else 0,
            "last_edited_at": automation.last_edited_at.isoformat() if automation.last_edited_at else None,
        })
    if output == JSONL:
        for row in rows:
            typer.echo(json.dumps(row, sort_keys=True))
        return
    table = Table("id", "name", "school", "status", "times executed", "last edited")
    for row in rows:
        edited = (row["last_edited_at"] or "")[:16].replace("T", " ")
        table.add_row(row["id"], row["name"], row["school"], row["status"], str(row["times_executed"]), edited)
    console.print(table)


def show(automation_id: str = AUTOMATION_ID) -> None:
    """The saved definition, with its status and version, as JSON."""
    typer.echo(_get(automation_id).model_dump_json(indent=2))


def export(
    automation_id: str = AUTOMATION_ID,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """The whole definition as JSON, exit conditions included (for `import`)."""
    text = _get(automation_id).model_dump_json(indent=2, exclude={"status", "activated_at"})
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"exported {automation_id} to {output}")
    else:
        typer.echo(text)


def import_automation(file: Path = typer.Argument(..., help="An exported definition.")) -> None:
    """Create an automation from an export (inactive, exit conditions included)."""
    automation = assign_ids(read_automation(file), lambda path: uuid.uuid4().hex[:10])
    _run(lc.ImportAutomation(automation=automation, now=_now()))
    typer.echo(f"imported {automation.id} (inactive)")


def duplicate(
    automation_id: str = AUTOMATION_ID,
    new_id: Optional[str] = typer.Option(None, help="Id of the copy (default: generated).", callback=checked_id("--new-id")),
    name: Optional[str] = typer.Option(None, help="Name of the copy."),
) -> None:
    """An inactive copy of the triggers and flow; exit conditions are never copied."""
    if new_id is not None and not new_id.strip():
        raise CliError("--new-id must not be empty (leave it out for a generated id)")
    copy_id = new_id or f"{automation_id}-copy-{uuid.uuid4().hex[:6]}"
    events, _ = _run(
        lc.DuplicateAutomation(automation_id=automation_id, new_id=copy_id, new_name=name, now=_now())
    )
    typer.echo(f"duplicated {automation_id} as {copy_id} (inactive)")
    for event in events:
        if getattr(event, "note", None):
            typer.echo(f"  note: {event.note}")


def delete(
    automation_id: str = AUTOMATION_ID,
    finishing: bool = typer.Option(False, "--finishing", help="Let learners inside complete."),
    immediate: bool = typer.Option(False, "--immediate", help="Remove learners, cancel their steps."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Confirm: deleting cannot be undone."),
) -> None:
    """Delete an automation; with learners inside, say --finishing or --immediate."""
    if finishing and immediate:
        raise CliError("choose one of --finishing and --immediate")
    # The decider says why a never-saved or deleted automation cannot be deleted.
    automation = _state().automations.get(automation_id)
    stats = _stats().get((automation.school, automation_id)) if automation else None
    inside = stats.learners_inside if stats else 0
    mode = "finishing" if finishing else "immediate" if immediate else None
    if automation is not None and (mode or not inside):  # what the decider would refuse needs no yes
        confirmed(f"Delete {automation_id}{_deleting(mode, inside)}? This cannot be undone.", yes)
    events, _ = _run(
        lc.DeleteAutomation(
            automation_id=automation_id, mode=mode, has_learners_inside=inside > 0, now=_now()
        )
    )
    gone = any(isinstance(e, lc.AutomationRemoved) for e in events)
    typer.echo(f"deleted {automation_id}" + ("" if gone else f" (finishing: {inside} learner(s) inside)"))


def _deleting(mode: str | None, inside: int) -> str:
    if not inside:
        return ""
    if mode == "immediate":
        return f" and remove the {inside} learner(s) inside, cancelling their pending steps"
    return f" once the {inside} learner(s) inside have finished"


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("activate")(activate)
    app.command("deactivate")(deactivate)
    app.command("list")(list_automations)
    app.command("show")(show)
    app.command("export")(export)
    app.command("import")(import_automation)
    app.command("duplicate")(duplicate)
    app.command("delete")(delete)

