"""`automations partitions replay`: rebuild projections, or reprocess school events.

`--topic run-status` asks a running API server (AUTOMATIONS_API_URL, with
the operator token in AUTOMATIONS_API_TOKEN) to drop the views of the chosen
partitions and fold them again from offset 0, and follows its progress.
`--topic school-events` moves the stopped workers' consumer group back to a
point (`console.reprocessing` says why this way and what keeps it free of
duplicate runs); with `--follow` it then shows the workers catching up.
Both show a progress bar with the rate and the time left.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Callable, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from api.settings import ClientSettings
from console import reprocessing
from console.errors import CliError
from processors import config

app = typer.Typer(help="Replay a topic's partitions: rebuild projections or reprocess school events.", no_args_is_help=True)
POLL_SECONDS = 0.5
# The rebuild is answered once the partitions' rows are deleted: minutes at millions of runs
# (the server answers everything else meanwhile). --timeout, when given, bounds it instead.
REBUILD_ANSWER_SECONDS = 3600.0


class RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} records/s" if speed else "- records/s")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn()
    )


def follow(description: str, read: Callable[[], tuple[int, int, bool]], timeout: float | None) -> None:
    """Poll `read() -> (done, total, finished)` and draw it until finished."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _progress() as progress:
        task = progress.add_task(description, total=None)
        while True:
            done, total, finished = read()
            progress.update(task, completed=done, total=max(total, 1))
            if finished:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise CliError(f"not caught up within {timeout:g}s ({done} of {total})")
            time.sleep(POLL_SECONDS)


def _which(topic: str) -> str:
    topics = config.load().topics
    names = {"run-status": topics.run_status, "school-events": topics.school_events}
    for short, full in names.items():
        if topic in (short, full):
            return short
    raise CliError(f"--topic must be run-status or school-events ({', '.join(names.values())}); got {topic!r}")


def _api(method: str, path: str, body: dict | None = None, timeout: float = 30.0) -> dict:
    client = ClientSettings()
    if not client.token:
        raise CliError("set AUTOMATIONS_API_TOKEN to the operator token (projections live in the API server)")
    try:
        request = urllib.request.Request(
            client.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise CliError(f"{client.url}{path} answered {error.code}: {detail}") from None
    except OSError as error:
        raise CliError(f"no API server answers at {client.url} (start one with `automations api`): {error}") from None
    except ValueError as error:  # not a URL at all
        raise CliError(f"AUTOMATIONS_API_URL {client.url!r} is not an http:// URL: {error}") from None


def _rebuild(partition: Optional[int], timeout: float | None) -> None:
    body = {"partitions": [partition]} if partition is not None else {}
    started = _api("POST", "/operator/projections/rebuild", body, timeout=timeout or REBUILD_ANSWER_SECONDS)
    typer.echo(f"rebuilding the projections of run-status partition(s) {started['rebuilding']} from offset 0")

    def read() -> tuple[int, int, bool]:
        status = _api("GET", "/operator/projections")
        return status["read"], status["total"], status["caught_up"]

    follow("run-status", read, timeout)
    status = _api("GET", "/operator/projections")
    applied = sum(status["records_applied_by_partition"].get(str(p), 0) for p in started["rebuilding"])
    typer.echo(f"projections rebuilt: {applied} record(s) applied to partition(s) {started['rebuilding']}")


def _reprocess(partition: Optional[int], from_offset: Optional[int], from_time: Optional[datetime],
               watch: bool, timeout: float | None) -> None:
    settings = config.load()
    topic, group = settings.topics.school_events, settings.app_id
    partitions = None if partition is None else [partition]
    planned = asyncio.run(reprocessing.plan(settings, topic, partitions, from_offset, from_time))
    asyncio.run(reprocessing.move_group(settings, group, topic, {p: start for p, (start, _) in planned.items()}))
    total = sum(end - start for start, end in planned.values())
    for p, (start, end) in sorted(planned.items()):
        typer.echo(f"{topic}[{p}]: workers resume at offset {start} ({end - start} record(s) to reprocess)")
    typer.echo(f"consumer group {group} moved back: {total} record(s) will be processed again when the workers start")
    if not watch:
        return

    def read() -> tuple[int, int, bool]:
        now = asyncio.run(reprocessing.committed(settings, group, topic, sorted(planned)))
        done = sum(min(max(now[p] - start, 0), end - start) for p, (start, end) in planned.items())
        return done, total, done >= total

    follow(f"{topic} (start the workers)", read, timeout)
    typer.echo("reprocessed")


@app.command("replay")
def replay(
    topic: str = typer.Option(..., "--topic", help="run-status (rebuild projections) or school-events (reprocess)."),
    partition: Optional[int] = typer.Option(None, "--partition", min=0, help="Only this partition (default: all)."),
    from_offset: Optional[int] = typer.Option(None, "--from-offset", min=0, help="school-events: start here."),
    from_time: Optional[str] = typer.Option(None, "--from-time", help="school-events: start at the first record written at or after this time (ISO 8601 with offset)."),
    watch: bool = typer.Option(False, "--follow", help="school-events: wait and show the workers catching up."),
    timeout: Optional[float] = typer.Option(None, help="Give up following after this many seconds."),
) -> None:
    """Rebuild the projections from the run-status topic, or reprocess school events from a point."""
    if from_offset is not None and from_time is not None:
        raise CliError("choose one of --from-offset and --from-time")
    since = _instant(from_time) if from_time is not None else None
    which = _which(topic)
    if which == "run-status":
        if from_offset or since is not None:
            raise CliError("projections fold a partition from its start: run-status takes no --from-offset or --from-time")
        _rebuild(partition, timeout)
    else:
        if timeout is not None and not watch:
            raise CliError("--timeout limits --follow; school-events without --follow does not wait")
        _reprocess(partition, from_offset, since, watch, timeout)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--from-time {text!r} is not an ISO 8601 time, e.g. 2027-03-01T09:00:00+00:00") from None
    if instant.tzinfo is None:
        raise CliError("--from-time needs an offset, e.g. 2027-03-01T09:00:00+00:00")
    if instant < EPOCH:  # Kafka's timestamps start at 1970; the broker refuses an earlier one
        raise CliError(f"--from-time {text!r} is before 1970, where every Kafka timestamp starts")
    return instant
