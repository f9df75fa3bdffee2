"""The pipeline benchmark's timer phase: hold many pending timers, then make
them all due at once while live events keep flowing.

P learners enroll in the cohort course; each run waits until the cohort's
instant (one `wait_until_datetime`, so every timer is due at exactly the
same moment). Once the worker has scheduled all P timers (counted from its
`scheduled` records on the delays topic) the phase reads the worker's RSS
and its CPU while merely holding them, starts a steady stream of live ping
events, moves the worker's test clock to the cohort's instant, and waits for
the learner processor's P `fired` records on the delays topic (the timers'
log; at most --drain-timeout; a drain that does not finish is reported as
such, with how far it got and a timeline of `fired` records against the
cohort's emails seen).

Figures: the drain time (clock moved -> last `fired` record seen), the
worker's CPU per fired timer over the drain (the live events, a few per
second, included), the firing lateness per timer (the record's `fired_at`
minus the instant the timer became due on the worker's clock, which is the
later of its due time and the instant the clock was moved to), how many
`fired` records it took (more than P would mean a timer fired twice), and
the live events' latency before and during the drain.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from bench.pipeline_kafka import GroupProgress, Tail, produce_all, send_steadily
from bench.pipeline_measure import Window, rss_mib, spread_ms
from bench.pipeline_phases import Bench, worker_topics
from bench.pipeline_workload import PING_TAG, SCHOOL, TIMER_SCHOOL, cohort_enrollment, tagged
from processors.ingest import encode_event
from schemas.codec import decode

LIVE_PREFIX = "drain"


class TimerWatch:
    """What the worker says about the cohort's timers and the live pings, as it says it."""

    def __init__(self) -> None:
        self.scheduled: set[str] = set()
        self.fired: dict[str, tuple[datetime, datetime, float]] = {}  # id -> (due, fired_at, arrived)
        self.fired_records = 0
        self.cohort_emails = 0
        self.pings: dict[int, float] = {}  # n -> arrived
        self.stamped: dict[int, float] = {}  # n -> the ping's email's own timestamp (the worker's producer)
        self.tail_lag: list[float] = []  # per `fired` record: arrived here - its timestamp
        self.on_scheduled = self.on_fired = lambda: None

    def on_record(self, record, arrived: float) -> None:
        key = record.key or ""
        if key.startswith(f"{TIMER_SCHOOL}:"):
            if record.topic.endswith(".actions"):
                self.cohort_emails += 1
                return
            timer = decode("timer", record.value)
            if timer["op"] == "scheduled" and timer["timer_id"] not in self.scheduled:
                self.scheduled.add(timer["timer_id"])
                self.on_scheduled()
            elif timer["op"] == "fired":
                self.fired_records += 1
                if timer["timer_id"] not in self.fired:
                    self.fired[timer["timer_id"]] = (timer["due_at"], timer["fired_at"], arrived)
                    self.tail_lag.append(arrived - record.timestamp_ms / 1000)
                    self.on_fired()
        elif key.startswith(f"{SCHOOL}:{LIVE_PREFIX}-") and record.topic.endswith(".actions"):
            self.pings.setdefault(int(key.rsplit("-", 1)[1]), arrived)
            self.stamped.setdefault(int(key.rsplit("-", 1)[1]), record.timestamp_ms / 1000)


def measure_timers(bench: Bench, timers: int, cohort_due: datetime, live_rate: float, hold_seconds: float,
                   drain_timeout: float) -> dict:
    return asyncio.run(_measure(bench, timers, cohort_due, live_rate, hold_seconds, drain_timeout))


async def _measure(bench: Bench, timers: int, cohort_due: datetime, live_rate: float, hold_seconds: float,
                   drain_timeout: float) -> dict:
    settings, worker = bench.settings, bench.worker
    pid = worker.process.pid
    figures: dict = {"timers": timers, "rss_before_mib": rss_mib(pid)}
    watch = TimerWatch()
    tail = await Tail(settings, [settings.topics.delays, settings.topics.actions], watch.on_record).start()
    try:
        scheduled_bar = bench.task("timers scheduled", timers)
        watch.on_scheduled = lambda: scheduled_bar(1)
        began = time.perf_counter()
        at = datetime.now(timezone.utc)
        await produce_all(settings, settings.topics.school_events, [cohort_enrollment(n, at) for n in range(timers)],
                          lambda n: None)
        await _until(lambda: len(watch.scheduled) >= timers, timeout=max(600.0, timers / 20))
        figures["schedule_events_per_s"] = timers / (time.perf_counter() - began)
        bench.say(f"{len(watch.scheduled):,} timers pending after {time.perf_counter() - began:.1f} s "
                  f"({figures['schedule_events_per_s']:,.0f} run-starting events/s)")

        async with GroupProgress(settings, settings.app_id, worker_topics(settings)) as group:
            await group.until_idle()  # every enrollment committed, every schedule in the due-time index
        holding = Window(pid).start()
        await asyncio.sleep(hold_seconds)
        held = holding.finish()
        figures |= {"held": len(watch.scheduled), "rss_held_mib": rss_mib(pid), "hold_cpu_share": held["cpu_share"]}

        fired_bar = bench.task("timers fired (drain)", timers)
        watch.on_fired = lambda: fired_bar(1)
        stop_live = asyncio.Event()
        sent: dict[int, float] = {}
        live = asyncio.create_task(_live_pings(settings, live_rate, stop_live, sent))
        await asyncio.sleep(min(5.0, hold_seconds))  # a baseline of live latency before the drain
        draining = Window(pid).start()
        clock_now = await asyncio.to_thread(worker.clock, 0)
        became_due = await asyncio.to_thread(worker.clock, (cohort_due - clock_now).total_seconds())
        moved_at = time.time()
        timeline = await _drain(watch, timers, moved_at, drain_timeout)
        complete = len(watch.fired) >= timers
        drained_at = max(arrived for _, _, arrived in watch.fired.values()) if complete else time.time()
        usage = draining.finish()
        stop_live.set()
        await live
        if complete:  # what is still on its way (emails, the last pings) gets two minutes
            await _until(lambda: watch.cohort_emails >= timers and len(watch.pings) >= len(sent), timeout=120.0, fail=False)
    finally:
        await tail.stop()

    lateness = [(fired_at - max(due, became_due)).total_seconds() for due, fired_at, _ in watch.fired.values()]
    before = [watch.pings[n] - t for n, t in sent.items() if n in watch.pings and t < moved_at]
    during = [watch.pings[n] - t for n, t in sent.items() if n in watch.pings and moved_at <= t <= drained_at]
    # The same by the email's own timestamp: set when the worker produced it, before its transaction
    # committed, so a low bound; the gap to `during` is the commit and this process's reading.
    during_stamped = [watch.stamped[n] - t for n, t in sent.items() if n in watch.stamped and moved_at <= t <= drained_at]
    figures |= {
        "clock_overshoot_ms": (became_due - cohort_due).total_seconds() * 1000,
        "drain_complete": complete,
        "drained": len(watch.fired),
        "drain_timeline": timeline,
        "drain_s": drained_at - moved_at,
        "drain_timers_per_s": len(watch.fired) / (drained_at - moved_at),
        "fired_records": watch.fired_records,
        "drain_cpu_s": usage["cpu_s"],
        "drain_cpu_us_per_timer": usage["cpu_s"] / max(len(watch.fired), 1) * 1e6,
        "cohort_emails": watch.cohort_emails,
        "rss_after_mib": rss_mib(pid),
        "drain_cpu_share": usage["cpu_share"],
        "drain_machine_busy_cores": usage["machine_busy_cores"],
        "drain_load_1m": usage["load_1m"],
        "live_sent": len(sent),
        "live_during_sent": sum(1 for t in sent.values() if moved_at <= t <= drained_at),
        "live_answered": len(watch.pings),
        **{f"lateness_{k}": v for k, v in spread_ms(lateness).items()},
        **{f"live_before_{k}": v for k, v in spread_ms(before).items()},
        **{f"live_during_{k}": v for k, v in spread_ms(during).items()},
        **{f"live_during_stamped_{k}": v for k, v in spread_ms(during_stamped).items()},
        **{f"tail_lag_{k}": v for k, v in spread_ms(watch.tail_lag).items()},
    }
    drained = (f"drained in {figures['drain_s']:.1f} s" if complete else
               f"NOT drained: {len(watch.fired):,} of {timers:,} fired after {figures['drain_s']:.0f} s")
    bench.say(
        f"timers: held {figures['held']:,} (worker RSS {figures['rss_held_mib']:.0f} MiB, CPU {figures['hold_cpu_share']:.0%} "
        f"while holding); {drained} ({figures['drain_timers_per_s']:,.0f}/s), "
        f"lateness p50 {figures['lateness_p50_ms'] / 1000:.1f} s, p99 {figures['lateness_p99_ms'] / 1000:.1f} s; "
        f"worker CPU {figures['drain_cpu_us_per_timer']:,.0f} us per fired timer ({figures['drain_cpu_share']:.0%} of a core); "
        f"{figures['fired_records']:,} `fired` records for {timers:,} timers; live events during the drain ({figures['live_during_count']:,} of "
        f"{figures['live_during_sent']:,} answered): "
        f"p50 {figures['live_during_p50_ms']:.0f} ms, p99 {figures['live_during_p99_ms']:.0f} ms, by the email's own "
        f"timestamp p50 {figures['live_during_stamped_p50_ms']:.0f} ms, p99 {figures['live_during_stamped_p99_ms']:.0f} ms "
        f"(before: p50 {figures['live_before_p50_ms']:.0f} ms, p99 {figures['live_before_p99_ms']:.0f} ms); this process "
        f"read the `fired` records p50 {figures['tail_lag_p50_ms']:.0f} ms, p99 {figures['tail_lag_p99_ms']:.0f} ms after their timestamps")
    return figures


async def _drain(watch: TimerWatch, timers: int, moved_at: float, timeout: float) -> list:
    """Until every timer's `fired` record is seen or `timeout`; every 5 s a point of the
    timeline (seconds, timers fired, cohort emails seen)."""
    timeline, next_point = [], moved_at
    while len(watch.fired) < timers and time.time() - moved_at < timeout:
        if time.time() >= next_point:
            timeline.append((round(time.time() - moved_at), len(watch.fired), watch.cohort_emails))
            next_point += 5.0
        await asyncio.sleep(0.1)
    return timeline


async def _live_pings(settings, rate: float, stop: asyncio.Event, sent: dict[int, float]) -> None:
    def records():
        n = 0
        while not stop.is_set():
            user = f"{LIVE_PREFIX}-{n}"
            yield encode_event(tagged(f"{user}-e", user, PING_TAG, datetime.now(timezone.utc)))
            n += 1

    await send_steadily(settings, settings.topics.school_events, records(), rate, sent.__setitem__)


async def _until(done, timeout: float, fail: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            if fail:
                raise TimeoutError(f"not done within {timeout:.0f} s")
            return
        await asyncio.sleep(0.1)
