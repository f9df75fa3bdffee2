"""`automations steps ...`: who waits where, and advancing them.

`waiting` reads the step funnel from the projections' store, caught up
with the run-status topic first (`console.topic_views`); `advance` appends a
steps_advanced record to the definitions topic, which every worker applies
to the learners of its partitions. The step stays.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import typer
from rich.table import Table

from api import commands
from console.errors import CliError
from console.id_arguments import checked_id
from console.output import table_console
from console.operator_views import views_of
from console.topic_views import load_definitions, load_parts
from processors import config

app = typer.Typer(help="Steps: learners waiting per step, and advancing them.", no_args_is_help=True)
console = table_console()

AUTOMATION_ID = typer.Argument(..., help="The automation's id.", callback=checked_id("automation id"))


def _automation(automation_id: str):
    automation = load_definitions().automations.get(automation_id)
    if automation is None:
        raise CliError(f"no automation '{automation_id}' (see `automations list`)")
    return automation


@app.command("waiting")
def waiting(automation_id: str = AUTOMATION_ID) -> None:
    """Per step of the flow: runs that reached it, learners waiting now, time spent waiting."""
    automation = _automation(automation_id)
    funnel = views_of(load_parts()).step_funnel(automation.school, automation.id, automation)
    table = Table("step", "type", "reached", "waiting now", "left", "average wait", "longest wait",
                  title=f"steps of {automation.id}")
    for row in funnel:
        name = row["step_id"] + ("" if row["in_flow"] else " (removed)")
        average, longest = row["average_wait_seconds"], row["longest_wait_seconds"]
        table.add_row(name, row["step_type"] or "", str(row["reached"]),
                      str(row["waiting_now"]) if row["is_wait"] is not False else "",
                      str(row["left_after_waiting"]) if row["left_after_waiting"] else "",
                      f"{average:.0f} s" if average is not None else "",
                      f"{longest:.0f} s" if longest is not None else "")
    console.print(table)


@app.command("advance")
def advance(
    automation_id: str = AUTOMATION_ID,
    step_id: str = typer.Argument(..., help="A wait step of its flow.", callback=checked_id("step id")),
) -> None:
    """Move every learner waiting in the step on to the next step now; the step stays."""
    automation = _automation(automation_id)
    refusal = commands.advance_refusal(automation, step_id)
    if refusal:
        raise CliError(refusal)
    count = views_of(load_parts()).waiting_by_step(automation.school, automation.id).get(step_id, 0)
    result = asyncio.run(commands.advance(config.load(), automation, step_id, datetime.now(timezone.utc)))
    if "error" in result:
        raise CliError(result["error"])
    typer.echo(f"advance of {automation_id}/{step_id} requested ({count} learner(s) waiting there)")
