"""`automations demo`: the whole engine end to end on this machine, then tidy up.

Starts a fresh local broker (its own folder and port unless
AUTOMATIONS_KAFKA_HOME and AUTOMATIONS_BROKER_PORT say others, so a development
broker is never touched by default) and one worker, saves and activates the example
automations, streams the example school events (re-timed to now, so waits
and the 60-second rule behave as they would live), waits until the runs have
settled, and prints the runs and the action commands read back from Kafka.
Everything it started is stopped again, also on failure or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from console.errors import CliError
from console.output import table_console
from engine.school_events import EventRejected
from engine.values import replace
from processors.worker_client import WorkerNotReady, move_clock, wait_ready

ROOT = Path(__file__).resolve().parent.parent
app = typer.Typer(help="Run the demo: broker, worker, example automations and events.")
# Piped output (CI logs) gets room for the idempotency keys instead of 80 columns.
out = table_console()


DEMO_PORT = 19092
DEMO_KAFKA_HOME = ROOT / ".kafka" / "demo"


def demo_broker(port: int | None) -> tuple[int, Path]:
    """The demo broker's port and folder: --port, else AUTOMATIONS_BROKER_PORT, else 19092;
    AUTOMATIONS_KAFKA_HOME, else .kafka/demo (never the development broker's .kafka)."""
    from broker import kafka

    chosen = kafka.resolve_port(port if port is not None else os.environ.get("AUTOMATIONS_BROKER_PORT") or DEMO_PORT)
    home = os.environ.get("AUTOMATIONS_KAFKA_HOME")
    return chosen, Path(home).expanduser().resolve() if home else DEMO_KAFKA_HOME


def _settle_env(port: int | None, web_port: int) -> dict[str, str]:
    port, kafka_home = demo_broker(port)
    env = {
        "AUTOMATIONS_KAFKA_HOME": str(kafka_home),
        "AUTOMATIONS_BROKER_PORT": str(port),
        "AUTOMATIONS_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "AUTOMATIONS_DATA_DIR": str(ROOT / "var" / "demo-worker"),
        "AUTOMATIONS_WEB_PORT": str(web_port),
        "AUTOMATIONS_PARTITIONS": "4",
        "AUTOMATIONS_APP_ID": "school-automations-demo",
        # The demo moves the worker's clock forward so that waits come due on
        # screen; this is the test clock, switched on explicitly for the demo only.
        "AUTOMATIONS_TEST_CLOCK": "1",
    }
    os.environ.update(env)
    return env


def _wait_ready(web_port: int, worker: subprocess.Popen, timeout: float = 90.0) -> None:
    try:
        wait_ready(web_port, worker, timeout)
    except WorkerNotReady as error:
        raise CliError(f"{error}; see var/demo-worker.log") from None


def _retimed_events(path: Path):
    """The recorded events, in file order, re-timed to start now, 50 ms apart."""
    from console.event_files import numbered_events, opened

    events = []
    with opened(path) as lines:
        for number, parsed in numbered_events(lines):
            if isinstance(parsed, EventRejected):
                raise CliError(f"{path}:line {number}: {parsed.reason}")
            events.append(parsed)
    start = datetime.now(timezone.utc) + timedelta(seconds=1)
    return [replace(e, occurred_at=start + timedelta(milliseconds=50 * i)) for i, e in enumerate(events)]


async def _read(settings, topic: str, kind: str) -> list[dict]:
    from processors.kafka_io import read_to_end
    from schemas.codec import decode

    return [decode(kind, record.value) async for record in read_to_end(settings, topic)]


def _settled(records: list[dict]) -> bool:
    started = {r["run_id"] for r in records if r["kind"] == "run_started"}
    latest = {r["run_id"]: r["status"] for r in records if r["kind"] == "run_status_changed"}
    return bool(started) and all(latest.get(run_id, "executing") != "executing" for run_id in started)


def _wait_settled(settings, timeout: float = 90.0, after: int = 0) -> list[dict]:
    """Run-status records once no run is executing and nothing new came for 2 s
    (and, with `after`, once there are more than `after` records)."""
    deadline, last_count, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    with out.status("waiting for the runs to settle..."):
        while time.monotonic() < deadline:
            records = asyncio.run(_read(settings, settings.topics.run_status, "run_status"))
            if len(records) != last_count:
                last_count, quiet_since = len(records), time.monotonic()
            elif len(records) > after and _settled(records) and time.monotonic() - quiet_since > 2.0:
                return records
            time.sleep(0.5)
    raise CliError(f"the runs did not settle within {timeout:.0f}s; see var/demo-worker.log")


def _print_runs(records: list[dict]) -> None:
    runs: dict[str, dict] = {}
    for record in records:
        if record["kind"] == "run_started":
            runs[record["run_id"]] = dict(record, steps=0, status="executing", note="")
        elif record["kind"] == "step_recorded" and record["run_id"] in runs:
            runs[record["run_id"]]["steps"] += 1
        elif record["kind"] == "run_status_changed" and record["run_id"] in runs:
            runs[record["run_id"]].update(
                status=record["status"], note=record.get("error") or record.get("reason") or ""
            )
    table = Table("learner", "automation", "trigger", "status", "steps", "note", title="Runs (run-status topic)")
    for run in runs.values():
        table.add_row(f"{run['school']}:{run['user']}", run["automation_id"], run.get("trigger_id") or "",
                      run["status"], str(run["steps"]), run["note"])
    out.print(table)


def _print_actions(actions: list[dict]) -> None:
    table = Table("learner", "action", "target", "idempotency key", title="Action commands (actions topic)")
    for action in actions:
        target = next((f"{k}={action[k]}" for k in ("template", "tag", "course", "program", "product", "field")
                       if action.get(k) is not None), "")
        table.add_row(f"{action['school']}:{action['user']}", action["type"], target, action["idempotency_key"])
    out.print(table)


@app.callback(invoke_without_command=True)
def demo(
    port: Optional[int] = typer.Option(None, help="Port of the demo broker (default AUTOMATIONS_BROKER_PORT, else 19092)."),
    web_port: int = typer.Option(16066, help="Port of the demo worker's HTTP endpoint."),
    events: Path = typer.Option(ROOT / "examples" / "events.jsonl", help="School events to stream."),
    automations: Path = typer.Option(ROOT / "examples" / "automations", help="Folder of definitions."),
    fast_forward: float = typer.Option(8.0, help="Days to move the worker's clock on afterwards (0: none)."),
) -> None:
    """Run the demo end to end and print the runs and actions."""
    _settle_env(port, web_port)
    from broker import kafka
    from console import lifecycle
    from processors import config
    from processors.ingest import send_events
    from processors.kafka_io import ensure_topics

    settings = config.load()
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    worker = None
    try:
        kafka.start(fresh=True, wait_seconds=120)
        asyncio.run(ensure_topics(settings))
        log = open(ROOT / "var" / "demo-worker.log", "w")
        worker = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "worker"], stdout=log, stderr=log, cwd=ROOT)
        definition_files = sorted(automations.glob("*.y*ml")) + sorted(automations.glob("*.json"))
        lifecycle.apply(definition_files, yes=False)
        for path in definition_files:
            lifecycle.activate(lifecycle.read_automation(path).id)
        with out.status("waiting for the worker..."):
            _wait_ready(web_port, worker)
        sent = asyncio.run(send_events(settings, _retimed_events(events)))
        out.print(f"sent {sent} school events")
        records = _wait_settled(settings)
        _print_runs(records)
        if fast_forward > 0:
            now = move_clock(web_port, advance_seconds=fast_forward * 86400).isoformat()
            out.print(f"moved the worker's clock {fast_forward:g} days on, to {now}: waits come due")
            _print_runs(_wait_settled(settings, after=len(records)))
        _print_actions(asyncio.run(_read(settings, settings.topics.actions, "action")))
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        kafka.stop()
