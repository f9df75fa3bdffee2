"""Restart with a million learners' state (issue #12): kill -9 -> ready, and a cold restore.

On fresh, uniquely prefixed topics and one real worker process (the pipeline
benchmark's `BenchWorker`: controllable clock, production timer pass and
session timeout, an instance id so it is a static member of its group):

1. build: one school event per learner for N learners (`learner-0` ...), every
   fifth a course enrollment (a run that waits 3 days: a live run, a pending
   timer in the due-time index), the rest a sign-up (a welcome run that ends at
   once); every learner of the school also gets the inactivity check's timer.
   Produced at once (confluent-kafka, Kafka's murmur2 partitioner, as the
   worker's own producer), timed until the worker's group has committed them
   and everything made of them, with the worker's RSS sampled as learners are
   added; then its RSS holding them and the stores' size on disk;
2. warm restarts (--restarts): `kill -9` the idle worker, send one event for an
   existing learner (a `ping` tag: its run sends one email), start the worker
   again on its data folder; the seconds from the kill to `/ready/` 200, what
   `/ready/` said until then, the seconds to the ping's email on the actions
   topic (the first event answered), and a timeline from the worker's own log
   lines (info level);
3. cold restore (unless --no-cold): a clean stop, an empty data folder, the same
   start: seconds to ready, the changelog records restored, the seconds spent
   restoring, records/s, the RSS once ready, the first event answered.

Uses the broker at AUTOMATIONS_BROKER_PORT; if none answers, starts one and
stops it at the end.

    python bench/restart_at_scale.py                       # 1,000,000 learners
    python bench/restart_at_scale.py --learners 100000 --restarts 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.pipeline import BenchWorker, define, run_bench  # noqa: E402
from bench.pipeline_kafka import GroupProgress, delete_topics_with_prefix, total_end_offset  # noqa: E402
from bench.pipeline_measure import rss_mib  # noqa: E402
from bench.pipeline_phases import worker_topics  # noqa: E402
from bench.pipeline_restart import _RESTORED, _ReadyLog  # noqa: E402
from bench.pipeline_workload import COURSES, PING_TAG, SCHOOL, tagged  # noqa: E402
from engine.school_events import SchoolEvent  # noqa: E402
from processors.config import Settings, Topics  # noqa: E402
from processors.ingest import encode_event  # noqa: E402
from processors.kafka_io import ensure_topics  # noqa: E402
from processors.learner_processor import partition_of  # noqa: E402

ENROLLED_EVERY = 5  # every fifth learner enrolls in a course: a waiting run and its timer
# Worker log lines that mark a restart's steps (info level), and what each is called in the timeline.
MILESTONES = [
    (re.compile(r"\[\^Worker\]: Starting"), "worker process started (Faust)"),
    (re.compile(r"stream task started"), "definitions loaded, stream task started"),
    (re.compile(r"opened (\d+) store partition"), "stores opened"),
    (re.compile(r"restored (\S+)\[(\d+)\]"), "a store partition restored"),
    (re.compile(r"assigned \S"), "partitions assigned, processing"),
    (re.compile(r"Ready"), "Faust ready"),
]
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


ROOT = Path(__file__).resolve().parents[1]


class ScaleWorker(BenchWorker):
    """The pipeline's worker, run from the checkout at `root` (another commit's worker, for a
    baseline in the same run); `start(ensure=False)` starts the process alone, as a supervisor
    restarting it would (the worker makes its topics itself), so the bench's own topic check
    is not counted in a restart."""

    root = ROOT

    def start(self, timeout: float = 90.0, ensure: bool = True) -> "ScaleWorker":
        if ensure:
            asyncio.run(ensure_topics(self.settings))
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(self.root / "cli.py"), "worker", "--loglevel", self.loglevel],
                env=self.env(), stdout=log, stderr=log, cwd=self.root, start_new_session=True,
            )
        self.wait_ready(timeout)
        return self


def learner_event(n: int, at: datetime) -> tuple[str, bytes]:
    user = f"learner-{n}"
    if n % ENROLLED_EVERY == 0:
        event = SchoolEvent(id=f"scale-{n}", type="course.enrolled", school=SCHOOL, user=user, occurred_at=at,
                            data={"course": COURSES[n % len(COURSES)]})
    else:
        event = SchoolEvent(id=f"scale-{n}", type="user.registered", school=SCHOOL, user=user, occurred_at=at,
                            data={"email": f"learner{n}@example.org", "fields": {}})
    return encode_event(event)


def producer(settings: Settings) -> Producer:
    # murmur2_random: Java's partitioner, so every record lands where the worker keeps its learner.
    return Producer({"bootstrap.servers": settings.bootstrap_servers, "partitioner": "murmur2_random",
                     "linger.ms": 20, "enable.idempotence": True, "queue.buffering.max.messages": 200_000})


def produce_learners(settings: Settings, learners: int, advance) -> None:
    sending = producer(settings)
    at = datetime.now(timezone.utc)
    topic = settings.topics.school_events
    for start in range(0, learners, 10_000):
        stop = min(start + 10_000, learners)
        for n in range(start, stop):
            key, value = learner_event(n, at + timedelta(milliseconds=n))
            while True:
                try:
                    sending.produce(topic, value, key.encode())
                    break
                except BufferError:
                    sending.poll(0.05)
        sending.poll(0)
        advance(stop - start)
    if sending.flush(120) > 0:
        raise RuntimeError("records still unsent after 120 s")


def build(settings: Settings, worker: ScaleWorker, learners: int, progress: Progress, say) -> dict:
    """Stream the learners' events and wait until the worker has committed them and all they made."""
    produced = progress.add_task("learners' events produced", total=learners)
    committed = progress.add_task("committed by the worker", total=learners)
    rss = progress.add_task("worker RSS (MiB)", total=None)
    samples: list[tuple[float, int, float]] = []  # (seconds, committed, RSS MiB)
    pid = worker.process.pid

    async def run() -> float:
        async with GroupProgress(settings, settings.app_id, [settings.topics.school_events]) as group:
            before = await group.committed()
            began = time.perf_counter()
            sending = asyncio.create_task(asyncio.to_thread(
                produce_learners, settings, learners, lambda n: progress.advance(produced, n)))
            done, sampled = 0, 0.0
            while done < learners:
                await asyncio.sleep(1.0)
                done = await group.committed() - before
                progress.update(committed, completed=done)
                if time.perf_counter() - sampled >= 5.0:
                    sampled = time.perf_counter()
                    samples.append((sampled - began, done, rss_mib(pid)))
                    progress.update(rss, description=f"worker RSS {samples[-1][2]:,.0f} MiB")
                    if not progress.console.is_terminal and len(samples) % 6 == 0:  # a log file: a line every 30 s
                        say(f"{sampled - began:,.0f} s: {done:,} of {learners:,} learners committed, worker RSS "
                            f"{samples[-1][2]:,.0f} MiB, load {os.getloadavg()[0]:.1f}")
                if sending.done() and sending.exception():
                    raise sending.exception()
            await sending
            inputs_done = time.perf_counter() - began
            await group.until_idle(timeout=3600.0)  # what the learners sent the task's other processors
            say(f"built {learners:,} learners: inputs committed after {inputs_done:.0f} s "
                f"({learners / inputs_done:,.0f} events/s), everything after {time.perf_counter() - began:.0f} s")
            return time.perf_counter() - began

    seconds = asyncio.run(run())
    return {"build_s": seconds, "build_events_per_s": learners / seconds, "build_rss_samples": samples}


def size_on_disk(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def changelog_records(settings: Settings) -> dict[str, int]:
    return {name: asyncio.run(total_end_offset(settings, f"{settings.app_id}-{name}-changelog"))
            for name in ("learners", "live-runs")}


class FirstAnswer:
    """Waits, in a thread, for the first record with `key` on the actions topic after `start()`."""

    def __init__(self, settings: Settings, key: bytes) -> None:
        self.key = key
        self.seen_at: float | None = None
        self.done = threading.Event()
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"first-{uuid.uuid4().hex[:6]}",
                                  "enable.auto.commit": False, "isolation.level": "read_committed", "fetch.wait.max.ms": 20})
        self.partition = TopicPartition(settings.topics.actions, partition_of(key, settings.partitions))

    def start(self) -> "FirstAnswer":
        _, high = self.consumer.get_watermark_offsets(self.partition, timeout=10)
        self.consumer.assign([TopicPartition(self.partition.topic, self.partition.partition, high)])
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            while not self.done.is_set():
                message = self.consumer.poll(0.05)
                if message is not None and message.error() is None and message.key() == self.key:
                    self.seen_at = time.perf_counter()
                    self.done.set()
        finally:
            self.consumer.close()

    def wait(self, timeout: float) -> float | None:
        self.done.wait(timeout)
        self.done.set()
        return self.seen_at


def send_ping(settings: Settings, n: int, attempt: str) -> bytes:
    user = f"learner-{n}"
    key, value = encode_event(tagged(f"restart-{attempt}-{n}", user, PING_TAG, datetime.now(timezone.utc)))
    sending = producer(settings)
    sending.produce(settings.topics.school_events, value, key.encode())
    sending.flush(30)
    return key.encode()


def timeline(log_path: Path, offset: int, killed_wall: float) -> list[tuple[float, str]]:
    """The worker's milestone log lines since `offset`, in seconds after the kill (the log's
    stamps are local time with milliseconds)."""
    points = []
    with open(log_path, errors="replace") as log:
        log.seek(offset)
        for line in log:
            stamp = _STAMP.match(line)
            if not stamp:
                continue
            for pattern, name in MILESTONES:
                if pattern.search(line):
                    at = datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    points.append((round(at - killed_wall, 2), name if name not in ("a store partition restored", "stores opened") else line.split("] ", 3)[-1].strip()[:120]))
                    break
    return points


def restart(settings: Settings, worker: ScaleWorker, n: int, attempt: str, cold: bool, say) -> dict:
    """Kill (or stop and empty the data folder), send a ping for learner n, start again: the figures."""
    key = f"{SCHOOL}:learner-{n}".encode()
    answer = FirstAnswer(settings, key).start()
    logged_from = worker.log_path.stat().st_size
    worker.loglevel = "info"  # the timeline's lines, and the restore's, are at info
    began, killed_wall = time.perf_counter(), time.time()
    if cold:
        worker.stop()
        shutil.rmtree(worker.data_dir, ignore_errors=True)
    else:
        worker.kill()
    down = time.perf_counter() - began
    send_ping(settings, n, attempt)
    try:
        with _ReadyLog(worker.web_port, began) as said:
            worker.start(timeout=1800.0, ensure=False)
        ready = time.perf_counter() - began
        rss_ready = rss_mib(worker.process.pid)
        seen = answer.wait(120.0)
    finally:
        worker.loglevel = "warn"
    with open(worker.log_path, errors="replace") as log:
        log.seek(logged_from)
        text = log.read()
    restores = [(int(m[3]), float(m[4])) for m in _RESTORED.finditer(text)]
    figures = {"ready_s": ready, "down_s": down, "first_answer_s": seen - began if seen else None,
               "rss_ready_mib": rss_ready, "not_ready": said, "timeline": timeline(worker.log_path, logged_from, killed_wall),
               "restored_records": sum(r for r, _ in restores), "restore_s": sum(s for _, s in restores),
               "errors": [line.strip()[:300] for line in text.splitlines() if "ERROR" in line][:5]}
    figures["restore_records_per_s"] = figures["restored_records"] / figures["restore_s"] if figures["restore_s"] else None
    what = "empty data folder" if cold else "kill -9"
    answered = f"{figures['first_answer_s']:.1f} s" if seen else "not within 120 s"
    say(f"{what} -> /ready/ 200 in {ready:.1f} s (the {'stop' if cold else 'kill'} took {down:.1f} s); first event answered "
        f"{answered} after it; RSS {rss_ready:,.0f} MiB; restored {figures['restored_records']:,} records in "
        f"{figures['restore_s']:.1f} s" + (f" ({figures['restore_records_per_s']:,.0f}/s)" if restores else ""))
    say("  /ready/ said: " + "; ".join(f"at {at:.1f} s: {', '.join(problems) or 'ready'}" for at, problems in said))
    say("  worker log: " + "; ".join(f"{at:.2f} s {name}" for at, name in figures["timeline"]
                                     if not name.startswith("restored ")))
    for line in figures["errors"]:
        say(f"  worker error: {line}")
    return figures


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--restarts", type=int, default=2, help="warm restarts (kill -9) one after another")
    parser.add_argument("--no-cold", action="store_true", help="skip the restore on an empty data folder")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--worker-root", type=Path, default=ROOT,
                        help="the checkout whose worker runs (default: this one), e.g. a worktree of the baseline commit")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, console: Console, folder: Path) -> dict:
    name = f"restart-{uuid.uuid4().hex[:8]}"
    settings = replace(Settings(), partitions=args.partitions, app_id=f"{name}-app", topics=Topics(prefix=name))
    instance = os.environ.get("AUTOMATIONS_INSTANCE_ID") or f"{name}-worker"
    worker = ScaleWorker(settings, folder / "worker", folder / "worker.log", extra_env={"AUTOMATIONS_INSTANCE_ID": instance})
    worker.root = args.worker_root.resolve()
    figures: dict = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "learners": args.learners,
                     "commit": _git(worker.root, "rev-parse", "--short", "HEAD"),
                     "uncommitted": bool(_git(worker.root, "status", "--porcelain", "--", "processors", "engine")),
                     "load_at_start": os.getloadavg(), "cpus": os.cpu_count(),
                     "instance_id": instance}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        asyncio.run(ensure_topics(settings))
        define(settings, (datetime.now(timezone.utc) + timedelta(hours=12)).replace(microsecond=0))
        worker.start(timeout=300.0)
        with Progress(*columns, console=console) as progress:
            figures |= build(settings, worker, args.learners, progress, console.print)
        pid = worker.process.pid
        figures |= {"rss_built_mib": rss_mib(pid), "store_bytes": size_on_disk(worker.data_dir / "stream"),
                    "data_dir_bytes": size_on_disk(worker.data_dir), "changelog": changelog_records(settings),
                    "load_after_build": os.getloadavg()}
        console.print(f"holding {args.learners:,} learners: worker RSS {figures['rss_built_mib']:,.0f} MiB; stores "
                      f"{figures['store_bytes'] / 2**20:,.0f} MiB on disk; changelog offsets {figures['changelog']}")
        picks = random.Random(7).sample(range(args.learners), args.restarts + 1)
        figures["warm"] = []
        for attempt in range(args.restarts):
            figures["warm"].append(restart(settings, worker, picks[attempt], f"warm{attempt}", False, console.print))
            figures["warm"][-1]["load_1m"] = os.getloadavg()[0]
        if not args.no_cold:
            figures["cold"] = restart(settings, worker, picks[-1], "cold", True, console.print)
            figures["cold"]["load_1m"] = os.getloadavg()[0]
            figures["cold"]["changelog_records"] = sum(figures["changelog"].values())
    finally:
        worker.stop()
        figures["load_at_end"] = os.getloadavg()
        if not args.keep_topics:
            asyncio.run(delete_topics_with_prefix(settings, name))
    return figures


def _git(root: Path, *args: str) -> str:
    """What git says about the worker's checkout."""
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    return done.stdout.strip()


def report(console: Console, f: dict) -> None:
    table = Table(title=f"Restart with {f['learners']:,} learners")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    samples = f["build_rss_samples"]
    growth = ", ".join(f"{done:,}: {rss:,.0f}" for _, done, rss in samples[:: max(1, len(samples) // 6)])
    rows = [
        ("build: events/s until everything committed", f"{f['build_events_per_s']:,.0f} ({f['build_s']:,.0f} s)"),
        ("worker RSS while building (learners: MiB)", growth),
        ("worker RSS holding them", f"{f['rss_built_mib']:,.0f} MiB"),
        ("stores on disk / whole data folder", f"{f['store_bytes'] / 2**20:,.0f} / {f['data_dir_bytes'] / 2**20:,.0f} MiB"),
    ]
    for n, warm in enumerate(f["warm"], start=1):
        answered = f"{warm['first_answer_s']:.1f} s" if warm["first_answer_s"] else "not answered"
        rows.append((f"kill -9 -> /ready/ 200, #{n}; first event answered", f"{warm['ready_s']:.1f} s; {answered}"))
        rows.append((f"  RSS once ready, #{n}; records replayed", f"{warm['rss_ready_mib']:,.0f} MiB; {warm['restored_records']:,}"))
    if "cold" in f:
        cold = f["cold"]
        rate = f"{cold['restore_records_per_s']:,.0f}/s" if cold["restore_records_per_s"] else "-"
        rows.append(("empty data folder -> ready; first event answered", f"{cold['ready_s']:.1f} s; "
                     + (f"{cold['first_answer_s']:.1f} s" if cold["first_answer_s"] else "not answered")))
        rows.append(("cold restore: records, seconds, records/s", f"{cold['restored_records']:,} (of {cold['changelog_records']:,} "
                     f"offsets), {cold['restore_s']:.1f} s, {rate}"))
        rows.append(("  RSS once ready", f"{cold['rss_ready_mib']:,.0f} MiB"))
    rows.append(("worker's code", f["commit"] + (" + uncommitted changes" if f["uncommitted"] else "")))
    rows.append(("load average at start / end (1 min)", f"{f['load_at_start'][0]:.2f} / {f['load_at_end'][0]:.2f} on {f['cpus']} cores"))
    for row in rows:
        table.add_row(*row)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse(argv), "restart-bench-", run, report)


if __name__ == "__main__":
    sys.exit(main())
