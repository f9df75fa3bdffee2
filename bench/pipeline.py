"""End-to-end pipeline benchmark: a real worker process on a real broker.

On fresh, uniquely prefixed topics (deleted at the end unless --keep-topics)
with one worker process (tests/integration/harness.py, controllable clock,
production timer settings), in this order:

0. warm-up (bench/eos_latency_floor.py, `--warm-up-seconds`, 0 skips it): the
   bare exactly-once copier at 1,570 records/s. A broker's first few thousand
   transactions cost it about twice what it spends once its JIT has compiled
   them, so the first run on a fresh broker measured slower than the next
   whatever the worker; the copier's send -> copy p50/p99 is printed as the
   floor of event -> action on this broker and box, in the same run;
1. throughput: the worker starts and settles; then N school events of a
   school with a few active automations (bench/pipeline_workload.py: most
   start no run, some start runs with actions and waits) are produced at
   once, and the clock runs until the worker's consumer group has committed
   all of them and everything its processors made of them: events/s, and
   the worker process's CPU per event (/proc/<pid>/stat);
2. restart (bench/pipeline_restart.py): kill -9, start again on the data
   folder, seconds to ready; then a clean stop, an empty data folder, a
   start: seconds to ready and the changelog restore rate;
3. passthrough (bench/pipeline_passthrough.py): bare confluent-kafka consume
   -> produce loops (this process, the worker idle) copy the same N records
   to a topic of the same partitions, at least once and exactly once (a
   transaction per batch, as the worker): records/s, and the engine's ratio;
4. event -> action latency at half the engine's rate: the mix with every
   10th event a ping (a fresh learner whose run emits one email), the same
   at a quarter of the rate, then pings alone at half; p50/p99 from send to the email seen
   on the actions topic;
5. the synchronous ingest round trip through `automations api` (a
   synchronous automation answers), p50/p99, and the asynchronous one;
6. timers (bench/pipeline_timers.py): P pending timers held (RSS), then all
   due at once while live events flow: drain time (by the timers' `fired`
   records on the delays topic), worker CPU per fired timer, live latency;
7. scale-out (bench/pipeline_scale.py): a fresh mix of N events through the
   one worker, then a second worker process joins the group (its own data
   folder and instance id) and another fresh mix of N goes through both:
   events/s of each, CPU per event over both processes (--no-scale skips it).

Uses the broker at AUTOMATIONS_BROKER_PORT; if none answers, starts one
(broker.kafka, in AUTOMATIONS_KAFKA_HOME) and stops it at the end.

    python bench/pipeline.py [--quick] [--events 100000] [--timers 100000] [--no-scale] [--latency-rate R] [--warm-up-seconds 60] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import eos_latency_floor  # noqa: E402
from bench.pipeline_kafka import create_topic, delete_topics_with_prefix  # noqa: E402
from bench.pipeline_phases import (  # noqa: E402
    Bench, checkout_command, measure_ingest, measure_latency, measure_passthrough, measure_throughput,
)
from bench.pipeline_restart import measure_restart  # noqa: E402
from bench.pipeline_scale import measure_two_workers  # noqa: E402
from bench.pipeline_timers import measure_timers  # noqa: E402
from bench.pipeline_workload import probe_automations, school_automations  # noqa: E402
from broker import kafka  # noqa: E402
from engine import lifecycle as lc  # noqa: E402
from processors import definitions_log  # noqa: E402
from processors.config import Settings, Topics  # noqa: E402
from processors.kafka_io import ensure_topics  # noqa: E402
from tests.integration.harness import ROOT, Worker  # noqa: E402

FULL = {"events": 100_000, "learners": 20_000, "timers": 100_000, "latency_seconds": 30.0, "requests": 300,
        "hold_seconds": 10.0, "live_rate": 20.0, "drain_timeout": 2400.0, "warm_up_seconds": 60.0}
QUICK = {"events": 4_000, "learners": 1_000, "timers": 1_500, "latency_seconds": 5.0, "requests": 30,
         "hold_seconds": 2.0, "live_rate": 20.0, "drain_timeout": 300.0, "warm_up_seconds": 5.0}
WARM_UP_RATE = 1570.0


class BenchWorker(Worker):
    """The test harness's worker with the production poll wait and session timeout."""

    loglevel = "warn"

    def env(self) -> dict[str, str]:
        env = super().env()
        for name in ("AUTOMATIONS_TIMER_INTERVAL", "AUTOMATIONS_SESSION_TIMEOUT"):
            env.pop(name)
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def start(self, timeout: float = 90.0) -> "BenchWorker":
        asyncio.run(ensure_topics(self.settings))
        argv, root = checkout_command("worker", "--loglevel", self.loglevel)
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(argv, env=self.env(), stdout=log, stderr=log, cwd=root, start_new_session=True)
        self.wait_ready(timeout)
        return self


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: about a minute")
    for name, value in FULL.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None,
                            help=f"default {value:,} (quick: {QUICK[name]:,})")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--latency-rate", type=float, default=None,
                        help="the latency phase's rate (events/s; the quarter phase runs at half of it) instead of half "
                             "the measured rate: the same load in runs compared on a box whose share for the worker varies")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--no-scale", action="store_true", help="skip the second worker process (scale-out phase)")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the restart on an empty data folder")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def ensure_broker(console: Console) -> bool:
    """True when this run started the broker (and must stop it)."""
    port = kafka.resolve_port()
    try:
        kafka.api_versions("127.0.0.1", port, timeout=5)
        return False
    except (OSError, kafka.BrokerError):
        console.print(f"no broker answers at 127.0.0.1:{port}; starting one ({kafka.home()})")
        kafka.start(port)
        return True


def define(settings: Settings, cohort_due: datetime) -> None:
    now = datetime.now(timezone.utc)
    for automation in school_automations() + probe_automations(cohort_due):
        for command in (lc.SaveAutomation(automation=automation, now=now), lc.ActivateAutomation(automation_id=automation.id, now=now)):
            result = asyncio.run(definitions_log.execute(settings, command))
            if isinstance(result, lc.Rejected):
                raise RuntimeError(f"{automation.id}: {result}")


def run(args: argparse.Namespace, console: Console, folder: Path) -> dict:
    name = f"pipeline-{uuid.uuid4().hex[:8]}"
    settings = replace(Settings(), partitions=args.partitions, app_id=f"{name}-app", topics=Topics(prefix=name))
    worker = BenchWorker(settings, folder / "worker", folder / "worker.log")
    # Its own data folder and, when the first has one, its own instance id (static membership).
    first_id = os.environ.get("AUTOMATIONS_INSTANCE_ID")
    second = BenchWorker(settings, folder / "worker-2", folder / "worker-2.log",
                         extra_env={"AUTOMATIONS_INSTANCE_ID": f"{first_id}-second"} if first_id else None)
    figures: dict = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "topic_prefix": name,
                     "commit": _git("rev-parse", "--short", "HEAD"),
                     "worker_root": str(checkout_command()[1]),
                     "uncommitted": _git("status", "--porcelain", "--", "engine", "processors", "schemas"),
                     "load_at_start": os.getloadavg(), "cpus": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()}}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            def task(description: str, total: int | None):
                task_id = progress.add_task(description, total=total)
                return lambda n: progress.advance(task_id, n)

            bench = Bench(settings, worker, folder, task, console.print)
            if args.warm_up_seconds > 0:
                figures |= warm_up(settings, f"{name}-warm-up", args.warm_up_seconds, args.partitions, console)
            asyncio.run(ensure_topics(settings))
            for variant in ("plain", "eos"):
                asyncio.run(create_topic(settings, bench.passthrough_topic(variant), settings.partitions))
            cohort_due = (datetime.now(timezone.utc) + timedelta(hours=12)).replace(microsecond=0)
            define(settings, cohort_due)
            figures |= measure_throughput(bench, args.events, args.learners)
            figures |= measure_restart(bench, cold=not args.no_cold_start)
            figures |= measure_passthrough(bench, args.events, figures["engine_events_per_s"])
            figures |= measure_latency(bench, args.latency_rate or figures["engine_events_per_s"] / 2, args.latency_seconds,
                                       args.learners)
            figures |= measure_ingest(bench, args.requests)
            figures |= measure_timers(bench, args.timers, cohort_due, args.live_rate, args.hold_seconds, args.drain_timeout)
            if not args.no_scale:
                figures |= measure_two_workers(bench, args.events, args.learners, second)
    finally:
        second.stop()
        worker.stop()
        figures["load_at_end"] = os.getloadavg()
        if not args.keep_topics:
            asyncio.run(delete_topics_with_prefix(settings, name))
    return figures


def warm_up(settings: Settings, prefix: str, seconds: float, partitions: int, console: Console) -> dict:
    """The bare exactly-once copier for `seconds`: the broker's transactions warm, and their floor."""
    console.print(f"warm-up: the bare exactly-once copier at {WARM_UP_RATE:,.0f} records/s for {seconds:.0f} s")
    try:
        floor = asyncio.run(eos_latency_floor.measure(settings, prefix, WARM_UP_RATE, seconds, partitions))
    finally:
        asyncio.run(delete_topics_with_prefix(settings, prefix))
    console.print(f"warm-up: send -> copy seen p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms; "
                  f"{floor['transactions_per_s']:.0f} transactions/s; broker {floor['broker_cpu_share']:.0%} of a core")
    return {"floor_rate": floor["rate"], "floor_p50_ms": floor["p50_ms"], "floor_p99_ms": floor["p99_ms"],
            "floor_transactions_per_s": floor["transactions_per_s"], "floor_broker_cpu_share": floor["broker_cpu_share"]}


def _git(*args: str) -> str:
    """What git says about the code this run measured (empty outside a repository)."""
    done = subprocess.run(["git", *args], cwd=checkout_command()[1], capture_output=True, text=True)
    return done.stdout.strip()


def report(console: Console, f: dict) -> None:
    table = Table(title="Pipeline benchmark", show_lines=False)
    table.add_column("measure")
    table.add_column("figure", justify="right")
    rows = [
        ("engine, mix (events/s, every agent caught up)", f"{f['engine_events_per_s']:,.0f}"),
        ("engine, mix, school events committed (events/s)", f"{f['engine_input_events_per_s']:,.0f}"),
        ("worker CPU per mix event", f"{f['engine_cpu_us_per_event']:,.0f} us"),
        ("passthrough, confluent-kafka, plain / exactly once (records/s)",
         f"{f['passthrough_plain_events_per_s']:,.0f} / {f['passthrough_eos_events_per_s']:,.0f}"),
        ("engine / passthrough, plain / exactly once", f"{f['engine_to_passthrough_plain']:.3f} / {f['engine_to_passthrough_eos']:.3f}"),
        ("kill -9 -> ready (s)", f"{f['restart_ready_s']:,.1f}"),
        ("empty data folder -> ready (s); restore rate", f"{f['cold_ready_s']:,.1f}; {f['cold_restored_records']:,} records at "
         f"{f['cold_restore_records_per_s']:,.0f}/s" if "cold_ready_s" in f else "not measured"),
        (f"exactly-once floor: bare copier at {f['floor_rate']:,.0f}/s after the warm-up, p50 / p99" if "floor_p50_ms" in f
         else "exactly-once floor (bare copier)", f"{f['floor_p50_ms']:,.0f} / {f['floor_p99_ms']:,.0f} ms" if "floor_p50_ms" in f
         else "not measured (no warm-up)"),
        (f"event -> action, mix at {f['latency_mix_rate']:,.0f}/s, p50 / p99", f"{f['latency_mix_p50_ms']:,.0f} / {f['latency_mix_p99_ms']:,.0f} ms"),
        (f"event -> action, mix at {f['latency_mix_half_rate']:,.0f}/s, p50 / p99", f"{f['latency_mix_half_p50_ms']:,.0f} / {f['latency_mix_half_p99_ms']:,.0f} ms"),
        (f"event -> action, pings at {f['latency_pings_rate']:,.0f}/s, p50 / p99", f"{f['latency_pings_p50_ms']:,.0f} / {f['latency_pings_p99_ms']:,.0f} ms"),
        ("sync ingest round trip, p50 / p99", f"{f['sync_p50_ms']:,.1f} / {f['sync_p99_ms']:,.1f} ms"),
        ("async ingest round trip, p50 / p99", f"{f['async_p50_ms']:,.1f} / {f['async_p99_ms']:,.1f} ms"),
        ("run-starting events/s (scheduling timers)", f"{f['schedule_events_per_s']:,.0f}"),
        ("pending timers held, worker RSS", f"{f['held']:,}, {f['rss_held_mib']:,.0f} MiB"),
        ("drain of the timers due at once", f"{f['drain_s']:,.1f} s ({f['drain_timers_per_s']:,.0f}/s)" if f["drain_complete"]
         else f"not done: {f['drained']:,} in {f['drain_s']:,.0f} s"),
        ("firing lateness p50 / p99", f"{f['lateness_p50_ms'] / 1000:,.1f} / {f['lateness_p99_ms'] / 1000:,.1f} s"),
        ("worker CPU per fired timer (whole drain, live events included)", f"{f['drain_cpu_us_per_timer']:,.0f} us"),
        ("`fired` records / timers", f"{f['fired_records']:,} / {f['timers']:,}"),
        ("live events during the drain, p50 / p99", f"{f['live_during_p50_ms']:,.0f} / {f['live_during_p99_ms']:,.0f} ms"),
        ("  the same by the email's own timestamp", f"{f['live_during_stamped_p50_ms']:,.0f} / {f['live_during_stamped_p99_ms']:,.0f} ms"),
        ("  this process's reading behind the `fired` records' timestamps, p50 / p99",
         f"{f['tail_lag_p50_ms']:,.0f} / {f['tail_lag_p99_ms']:,.0f} ms"),
        ("scale-out: one worker / two worker processes, mix events/s", f"{f['scale_one_events_per_s']:,.0f} / "
         f"{f['scale_two_events_per_s']:,.0f} (CPU per event {f['scale_one_cpu_us_per_event']:,.0f} / "
         f"{f['scale_two_cpu_us_per_event']:,.0f} us)" if "scale_two_events_per_s" in f else "not measured"),
        ("code", f"{f['commit']}" + (" + uncommitted changes in engine/processors/schemas" if f["uncommitted"] else "")),
        ("load average at start / end (1 min)", f"{f['load_at_start'][0]:.2f} / {f['load_at_end'][0]:.2f} on {f['cpus']} cores"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


def run_bench(args: argparse.Namespace, prefix: str, run, report) -> int:
    """A benchmark's whole life: the broker if none answers, a data folder (kept, and said so,
    when the run fails), `run(args, console, folder)`'s figures reported and written to
    `args.json`, the broker stopped if it was started here."""
    console = Console()
    started_broker = ensure_broker(console)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        figures = run(args, console, folder)
        report(console, figures)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        return 0
    except BaseException:
        console.print(f"worker log and data kept in {folder}")
        raise
    finally:
        if started_broker:
            kafka.stop()


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse(argv), "pipeline-bench-", run, report)


if __name__ == "__main__":
    sys.exit(main())
