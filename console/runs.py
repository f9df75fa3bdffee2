"""`automations runs ...`: the operator's view of runs, and replay and cancel.

Reads come from the projections' store, caught up with the run-status
topic first (`console.topic_views`); replay and cancel are commands on the
control topic (`api.commands`), so the learner processor applies them in
order with the learner's other input.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Optional

import typer
from rich.table import Column, Table

from api import commands
from console.errors import CliError, one_of
from console.id_arguments import checked_id
from console.output import FORMAT_HELP, JSONL, output_format, say_if_cut, table_console
from console.operator_views import views_of
from console.topic_views import load_definitions, load_parts
from processors import config

app = typer.Typer(help="Runs: list, show, replay, cancel, and a learner's history.", no_args_is_help=True)
console = table_console()
STATUSES = ("pending", "executing", "fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled")


def _short(instant: str | None) -> str:
    return instant[:19].replace("T", " ") if instant else ""


def _runs_table(rows: list[dict], title: str) -> Table:
    # Run ids are what an operator copies into `runs show` or `runs replay`: never cut short,
    # however narrow the terminal (or the 80 columns of a pipe); the other columns wrap.
    run_column = Column("run", no_wrap=True, min_width=max((len(row["run_id"]) for row in rows), default=3))
    table = Table(run_column, "school", "learner", "automation", "status", "started", "ended", "note", title=title)
    for row in rows:
        note = row["error"] or (f"exit {row['exit_id']}" if row["exit_id"] else "") or (
            f"waiting in {row['waiting_in']}" if row["waiting_in"] else ""
        )
        if row["replay_of"]:
            note = f"replay of {row['replay_of']} {note}".strip()
        table.add_row(row["run_id"], row["school"], row["user"], row["automation_id"], row["status"],
                      _short(row["started_at"]), _short(row["ended_at"]), note)
    return table


def _find(run_id: str):
    run = views_of(load_parts()).find_run(run_id)
    if run is None:
        raise CliError(f"no run '{run_id}' on {config.load().topics.run_status}")
    return run


@app.command("list")
def list_runs(
    automation: str = typer.Option(..., "--automation", help="The automation's id.", callback=checked_id("automation id")),
    status: Optional[str] = typer.Option(None, help=f"Only runs in this status: {', '.join(STATUSES)}."),
    school: Optional[str] = typer.Option(None, help="The automation's school (default: the one that has runs of it).",
                                         callback=checked_id("school id")),
    limit: int = typer.Option(100, min=1, help="At most this many, newest first."),
    every: bool = typer.Option(False, "--all", help="Every run, however many (instead of --limit)."),
    output: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """An automation's runs, newest first."""
    one_of("--status", status, STATUSES)
    output = output_format(output)
    views = views_of(load_parts())
    schools = [s for s in views.schools_of_automation(automation) if school in (None, s)]
    # Each school's newest `limit` hold the newest `limit` of all: no more rows are read.
    rows = [r for s in schools for r in views.runs_of_automation(s, automation, status, None if every else limit)]
    rows.sort(key=lambda r: r["started_at"], reverse=True)
    shown = rows if every else rows[:limit]
    total = len(rows) if every else sum(views.count_runs(s, automation, status) for s in schools)
    if output == JSONL:
        for row in shown:
            typer.echo(json.dumps(row, default=str))
    else:
        console.print(_runs_table(shown, f"runs of {automation}" + (f" ({status})" if status else "")))
    say_if_cut(len(shown), total, "runs")


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="The run's id.", callback=checked_id("run id")),
    as_json: bool = typer.Option(False, "--json", help="The whole activity view as JSON."),
) -> None:
    """The activity view: status, every step with time and outcome, exit, error, trace."""
    activity = _find(run_id).activity()
    if as_json:
        typer.echo(json.dumps(activity, indent=2, default=str))
        return
    console.print(f"[bold]{activity['run_id']}[/bold]  {activity['automation_id']} for "
                  f"{activity['school']}:{activity['user']}  status [bold]{activity['status']}[/bold]")
    for label in ("trigger_id", "trigger_event_id", "replay_of", "exit_id", "error", "reason"):
        if activity.get(label):
            console.print(f"  {label.replace('_', ' ')}: {activity[label]}")
    if activity["replayed_by"]:
        console.print(f"  replayed by: {', '.join(activity['replayed_by'])}")
    steps = Table("at", "step", "type", "outcome", "detail", title="steps")
    for step in activity["steps"]:
        detail = json.dumps(step["detail"], default=str) if step["detail"] else ""
        steps.add_row(_short(step["at"]), step["step_id"], step["step_type"] or "", step["outcome"] or "", detail[:80])
    console.print(steps)
    history = Table("at", "status", "why", title="status history")
    for change in activity["history"]:
        why = change.get("error") or change.get("reason") or ""
        history.add_row(_short(change["at"]), change["status"], why)
    console.print(history)


@app.command("replay")
def replay(run_id: str = typer.Argument(..., help="A pending, fulfilled or failed run.", callback=checked_id("run id"))) -> None:
    """A new run from the first step, linked to this one (a pending original is cancelled)."""
    run = _find(run_id)
    refusal = commands.replay_refusal(run, load_definitions().automations.get(run.automation_id))
    if refusal:
        raise CliError(refusal)
    result = asyncio.run(commands.replay(config.load(), run, datetime.now(timezone.utc)))
    typer.echo(f"replay of {run_id} requested; the new run will be {result['new_run_id']}")


@app.command("cancel")
def cancel(run_id: str = typer.Argument(..., help="A pending run.", callback=checked_id("run id"))) -> None:
    """Cancel a pending run (its timer too)."""
    run = _find(run_id)
    refusal = commands.cancel_refusal(run)
    if refusal:
        raise CliError(refusal)
    asyncio.run(commands.cancel(config.load(), run, datetime.now(timezone.utc)))
    typer.echo(f"cancel of {run_id} requested")


@app.command("for-learner")
def for_learner(
    school: str = typer.Argument(..., help="The school's id.", callback=checked_id("school id")),
    user: str = typer.Argument(..., help="The learner's id.", callback=checked_id("user id")),
) -> None:
    """A learner's runs across automations, and the entries that started none, with why."""
    history = views_of(load_parts()).learner_history(school, user)
    console.print(_runs_table(history["runs"], f"runs of {school}:{user}"))
    if history["not_started"]:
        notes = Table("at", "automation", "what", "event", "why", title="entries that started no run")
        for note in history["not_started"]:
            notes.add_row(_short(note["at"]), note["automation_id"], note["kind"], note["event_id"] or "", note["reason"] or "")
        console.print(notes)
