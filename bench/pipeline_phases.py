"""The pipeline benchmark's first phases: sustained throughput against a bare
passthrough, event -> action latency under load, and the HTTP ingest round trip.

Each phase is a function taking the run's `Bench` (settings, worker, bars)
and returning a flat dict of figures; `bench/pipeline.py` runs them in order
and prints them. The worker runs in its own process; the passthrough runs in
this one once the worker has consumed the mix and idles, so the two never
compete for the machine. The worker's CPU is read from /proc/<pid>/stat.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import aiohttp

from bench import pipeline_passthrough
from bench.pipeline_kafka import GroupProgress, Tail, produce_all, send_steadily
from bench.pipeline_measure import Window, broker_pid, spread_ms, thread_cpu_seconds
from bench.pipeline_workload import SCHOOL, SYNC_TAG, mix_events, tagged, with_pings
from engine.values import as_json
from processors.config import Settings
from tests.integration.api_harness import ApiServer
from tests.integration.harness import ROOT, Worker


def checkout_command(*args: str) -> tuple[list[str], Path]:
    """`cli.py *args` of the checkout under test, and its folder: this one, or the one named by
    AUTOMATIONS_BENCH_WORKER_ROOT (with its own .venv), so that a baseline's worker and API run
    under this harness and a pair of runs compares them and nothing else."""
    other = os.environ.get("AUTOMATIONS_BENCH_WORKER_ROOT")
    root = Path(other).resolve() if other else ROOT
    python = root / ".venv" / "bin" / "python" if other else Path(sys.executable)
    return [str(python), str(root / "cli.py"), *args], root


class BenchApiServer(ApiServer):
    """The test harness's API server, from the checkout under test."""

    def command(self) -> tuple[list[str], Path]:
        return checkout_command("api")


@dataclass
class Bench:
    settings: Settings
    worker: Worker
    folder: Path
    task: Callable[[str, int | None], Callable[[int], None]]  # (description, total) -> advance
    say: Callable[[str], None]

    def passthrough_topic(self, variant: str) -> str:
        return f"{self.settings.topics.prefix}.passthrough-{variant}"


def worker_topics(settings: Settings) -> list[str]:
    """The topics the worker's consumer group (its stream task) reads."""
    topics = settings.topics
    return [topics.school_events, topics.control, topics.automation_runs, topics.definitions]


async def until_worker_idle(bench: Bench) -> None:
    async with GroupProgress(bench.settings, bench.settings.app_id, worker_topics(bench.settings)) as group:
        await group.until_idle()


def measure_throughput(bench: Bench, events: int, learners: int) -> dict:
    """Start the worker, let it settle (definitions loaded, activation broadcasts applied),
    then produce the mix and time it until the worker's group has committed every event
    and every record its agents made of them (run status read back by the bookkeeping agents)."""
    launched = time.perf_counter()
    bench.worker.start()
    started = time.perf_counter() - launched
    asyncio.run(until_worker_idle(bench))
    records = mix_events(events, learners, datetime.now(timezone.utc) + timedelta(seconds=1))
    timed = timed_mix(bench, records, [bench.worker.process.pid], "worker consumes the mix")
    usage = timed["usage"][0]
    figures = {
        "worker_start_s": started,
        "engine_events_per_s": timed["events_per_s"],
        "engine_input_events_per_s": timed["input_events_per_s"],
        "engine_steady_events_per_s": timed["steady_events_per_s"],
        "engine_cpu_us_per_event": usage["cpu_s"] / events * 1e6,
        "engine_cpu_share": usage["cpu_share"],
        "engine_machine_busy_cores": usage["machine_busy_cores"],
        "engine_load_1m": usage["load_1m"],
    }
    bench.say(f"engine: {events:,} events in {timed['seconds']:.1f} s: {figures['engine_events_per_s']:,.0f}/s until every agent "
              f"caught up ({figures['engine_input_events_per_s']:,.0f}/s by the school-events offsets alone, 10%-90% of "
              f"them {figures['engine_steady_events_per_s']:,.0f}/s), worker CPU {usage['cpu_share']:.0%} of a core, "
              f"{figures['engine_cpu_us_per_event']:,.0f} us CPU per event; machine busy {usage['machine_busy_cores']:.1f} cores")
    return figures


def timed_mix(bench: Bench, records: list[tuple[str, bytes]], pids: list[int], description: str) -> dict:
    """Produce `records` at once and time them until the worker group has committed every one
    and every record its processors made of them; the CPU of each worker process in `pids`."""
    settings, events = bench.settings, len(records)
    produced = bench.task("produce the mix", events)
    consumed = bench.task(description, events)

    async def run() -> tuple[list[tuple[float, int]], float, float]:
        async with GroupProgress(settings, settings.app_id, [settings.topics.school_events]) as group:
            before = await group.committed()
            began = time.perf_counter()
            producing = asyncio.create_task(produce_all(settings, settings.topics.school_events, records, produced))
            samples, done = [(began, 0)], 0
            while done < events:
                await asyncio.sleep(0.25)
                committed = await group.committed() - before
                samples.append((time.perf_counter(), committed))
                consumed(committed - done)
                done = committed
            await producing
            while await group.lag(everywhere=True) > 0:  # what the learners sent the task's other processors
                await asyncio.sleep(0.25)
            return samples, began, time.perf_counter()

    windows = [Window(pid).start() for pid in pids]
    samples, began, caught_up = asyncio.run(run())
    usage = [window.finish() for window in windows]
    seconds = caught_up - began
    return {"seconds": seconds, "events_per_s": events / seconds, "input_events_per_s": events / (samples[-1][0] - began),
            "steady_events_per_s": _steady_rate(samples, events), "usage": usage}


def _steady_rate(samples: list[tuple[float, int]], total: int) -> float:
    """Events/s between the samples where 10% and 90% of the events were committed."""
    low = next(s for s in samples if s[1] >= total * 0.1)
    high = next(s for s in samples if s[1] >= total * 0.9)
    return (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else float("nan")


def measure_passthrough(bench: Bench, events: int, engine_rate: float) -> dict:
    """The same input topic through bare confluent-kafka consume -> produce loops in this
    process (the worker idles): at-least-once, then exactly-once (a transaction per batch)."""
    figures = {}
    for variant, exactly_once in (("plain", False), ("eos", True)):
        window = Window().start()
        seconds = pipeline_passthrough.copy(
            bench.settings.bootstrap_servers, bench.settings.topics.school_events, bench.passthrough_topic(variant),
            events, bench.task(f"passthrough, {variant}", events), exactly_once, batch=bench.settings.batch_size)
        usage = window.finish()
        rate = events / seconds
        figures |= {f"passthrough_{variant}_events_per_s": rate, f"engine_to_passthrough_{variant}": engine_rate / rate,
                    f"passthrough_{variant}_cpu_us_per_event": usage["cpu_s"] / events * 1e6}
        bench.say(f"passthrough ({variant}, confluent-kafka): {events:,} records in {seconds:.2f} s, {rate:,.0f}/s, "
                  f"{figures[f'passthrough_{variant}_cpu_us_per_event']:.0f} us CPU per record; engine / passthrough "
                  f"{engine_rate / rate:.3f}")
    return figures


async def ping_latencies(settings: Settings, records: list[tuple[str, bytes]], pings: dict[int, str], rate: float,
                         advance: Callable[[int], None], grace: float = 300.0) -> dict:
    """Send `records` at `rate`/s; for the ping among them (record index -> user, each a
    fresh learner whose run emits one email), the time from its send to its email action:
    as this process's consumer sees it, and by the action record's own timestamp."""
    sent: dict[str, float] = {}
    seen: dict[str, tuple[float, float]] = {}  # user -> (arrived, record timestamp)
    users = {f"{SCHOOL}:{user}" for user in pings.values()}

    def on_action(record, arrived: float) -> None:
        if record.key in users and record.key not in seen:
            seen[record.key] = (arrived, record.timestamp_ms / 1000)
            advance(1)

    def on_sent(index: int, at: float) -> None:
        if index in pings:
            sent[f"{SCHOOL}:{pings[index]}"] = at

    # Only the pings' emails are decoded: their keys share the school and the pings' prefix.
    prefix = f"{SCHOOL}:{os.path.commonprefix(list(pings.values()))}"
    tail = await Tail(settings, [settings.topics.actions], on_action, key_prefix=prefix).start()
    try:
        achieved = await send_steadily(settings, settings.topics.school_events, records, rate, on_sent)
        deadline = time.monotonic() + grace
        while len(seen) < len(pings) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await tail.stop()
    in_order = [seen[u][0] - sent[u] for u in sorted(seen, key=sent.get)]
    half = len(in_order) // 2
    return {"rate": achieved, "sent": len(pings), "answered": len(seen), **spread_ms(in_order),
            # A second half much slower than the first: the worker fell behind (above capacity).
            "first_half_p50_ms": spread_ms(in_order[:half])["p50_ms"], "second_half_p50_ms": spread_ms(in_order[half:])["p50_ms"],
            **{f"stamped_{k}": v for k, v in spread_ms([seen[u][1] - sent[u] for u in seen]).items() if k != "count"}}


def measure_latency(bench: Bench, rate: float, seconds: float, learners: int) -> dict:
    """Event -> action latency at `rate` events/s: the mix with every 10th event a ping,
    the same at half that rate, then pings alone (every event starts a run)."""
    figures = {}
    at = datetime.now(timezone.utc)
    for name, every, at_rate in (("mix", 10, rate), ("mix_half", 10, rate / 2), ("pings", 1, rate)):
        count = max(int(at_rate * seconds), 10)
        records = mix_events(count, learners, at, seed=2, prefix=f"latency-{name}")
        pings = with_pings(records, every, f"lat-{name}", at)
        window = Window(bench.worker.process.pid).start()
        others = {who: Window(pid).start() for who, pid in (("broker", broker_pid()), ("bench", os.getpid())) if pid}
        threads_began = thread_cpu_seconds(bench.worker.process.pid)
        batches_began = _batches(bench.worker)
        result = asyncio.run(ping_latencies(bench.settings, records, pings, at_rate,
                                            bench.task(f"latency, {name} at {at_rate:,.0f}/s", len(pings))))
        usage = window.finish()
        shares = {who: other.finish()["cpu_share"] for who, other in others.items()}
        batches, batch_seconds = (now - then for now, then in zip(_batches(bench.worker), batches_began))
        threads = {kind: (spent - threads_began[kind]) / usage["wall_s"]
                   for kind, spent in thread_cpu_seconds(bench.worker.process.pid).items()}
        asyncio.run(until_worker_idle(bench))
        figures |= {f"latency_{name}_{k}": v for k, v in result.items()}
        figures |= {f"latency_{name}_cpu_share": usage["cpu_share"], f"latency_{name}_machine_busy_cores": usage["machine_busy_cores"]}
        figures |= {f"latency_{name}_{who}_cpu_share": share for who, share in shares.items()}
        figures |= {f"latency_{name}_worker_{kind}_thread_cpu_share": share for kind, share in threads.items()}
        figures |= {f"latency_{name}_batches_per_s": batches / usage["wall_s"],
                    f"latency_{name}_batch_ms": batch_seconds / max(batches, 1) * 1000}
        bench.say(f"latency, {name} at {result['rate']:,.0f} events/s: {result['answered']}/{result['sent']} pings answered; "
                  f"p50 {result['p50_ms']:,.0f} ms, p99 {result['p99_ms']:,.0f} ms, max {result['max_ms']:,.0f} ms, "
                  f"p50 of the first / second half {result['first_half_p50_ms']:,.0f} / {result['second_half_p50_ms']:,.0f} ms "
                  f"(by the action's timestamp: p50 {result['stamped_p50_ms']:,.0f}, p99 {result['stamped_p99_ms']:,.0f} ms); "
                  f"CPU: worker {usage['cpu_share']:.0%}, broker {shares.get('broker', float('nan')):.0%}, this process "
                  f"{shares.get('bench', float('nan')):.0%} of a core (the worker's event loop {threads['main']:.0%}, librdkafka "
                  f"{threads['librdkafka']:.0%}, other threads {threads['other']:.0%}); machine busy {usage['machine_busy_cores']:.2f} cores; "
                  f"{batches / usage['wall_s']:,.0f} transactions/s of {batch_seconds / max(batches, 1) * 1000:.1f} ms on average")
    return figures


def _batches(worker: Worker) -> tuple[float, float]:
    """The stream task's committed batches so far and the seconds they took (its /metrics/)."""
    found = worker.metrics()
    return (sum(v for (name, _), v in found.items() if name == "automations_batch_seconds_count"),
            sum(v for (name, _), v in found.items() if name == "automations_batch_seconds_sum"))


def measure_ingest(bench: Bench, requests: int) -> dict:
    """Sequential POSTs through `automations api`: synchronous ones (a synchronous
    automation answers with its runs and actions) and, to compare, asynchronous ones."""
    folder = bench.folder / "api"
    folder.mkdir(exist_ok=True)
    api = BenchApiServer(bench.worker, folder, [SCHOOL], sync_timeout=30.0)
    launched = time.perf_counter()
    api.start(timeout=300.0)
    started = time.perf_counter() - launched
    try:
        sync, sync_failures = asyncio.run(_round_trips(api, requests, SYNC_TAG, 200, bench.task("sync ingest", requests)))
        async_, async_failures = asyncio.run(_round_trips(api, requests, "no-automation", 202, bench.task("async ingest", requests)))
    finally:
        api.stop()
    figures = {"api_start_s": started, "sync_failures": len(sync_failures), "async_failures": len(async_failures),
               **{f"sync_{k}": v for k, v in spread_ms(sync).items()}, **{f"async_{k}": v for k, v in spread_ms(async_).items()}}
    bench.say(f"ingest round trip, sync: p50 {figures['sync_p50_ms']:.1f} ms, p99 {figures['sync_p99_ms']:.1f} ms "
              f"({len(sync_failures)} unexpected answers{': ' + sync_failures[0] if sync_failures else ''}); async: p50 {figures['async_p50_ms']:.1f} ms, "
              f"p99 {figures['async_p99_ms']:.1f} ms; API ready in {started:.1f} s")
    return figures


async def _round_trips(api: ApiServer, count: int, tag: str, expected: int, advance) -> tuple[list[float], list[str]]:
    headers = {"Authorization": f"Bearer {api.tokens[SCHOOL]}"}
    url = f"{api.url}/schools/{SCHOOL}/events"
    seconds, failures = [], []
    async with aiohttp.ClientSession(headers=headers) as session:
        for n in range(count):
            user = f"ingest-{tag}-{n}"
            body = as_json(tagged(f"{user}-e", user, tag, datetime.now(timezone.utc)))
            began = time.perf_counter()
            async with session.post(url, json=body) as response:
                answer = await response.json()
            seconds.append(time.perf_counter() - began)
            runs = [(r["automation_id"], r["status"]) for r in answer["events"][0]["runs"]] if response.status == 200 else []
            # The unlock's enrollment also starts the onboarding run (a derived event, ruling 13).
            if response.status != expected or (expected == 200 and ("sync-unlock", "fulfilled") not in runs):
                failures.append(f"{response.status}: {runs or str(answer)[:300]}")
            advance(1)
    return seconds, failures

