"""Measuring instruments of the pipeline benchmark: percentiles, and what a
process and the machine spend (from /proc), so figures taken on a machine
shared with other work can say how much of it they had.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def spread_ms(seconds: list[float]) -> dict[str, float]:
    return {
        "count": len(seconds),
        "p50_ms": percentile(seconds, 0.50) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "max_ms": max(seconds, default=float("nan")) * 1000,
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """A live process's CPU seconds by kind of thread: its main thread (a Faust worker's event
    loop), librdkafka's own threads (named `rdk:...`), and its other threads (the stream task's)."""
    spent: dict[str, float] = {"main": 0.0, "librdkafka": 0.0, "other": 0.0}
    for task in os.scandir(f"/proc/{pid}/task"):
        try:
            text = open(f"{task.path}/stat").read()
        except OSError:  # the thread ended meanwhile
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        kind = "main" if task.name == str(pid) else "librdkafka" if name.startswith("rdk:") else "other"
        spent[kind] += (int(fields[11]) + int(fields[12])) / _TICKS
    return spent


def broker_pid() -> int | None:
    """The local broker's JVM (broker.kafka's), when this machine runs it: its CPU is part of
    what a phase costs the machine."""
    from broker import kafka

    return kafka.status().pid


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Window:
    """Wall time, the watched process's CPU and the whole machine's CPU over one phase."""

    pid: int | None = None
    began: float = 0.0
    cpu_began: float = 0.0
    machine_began: tuple[int, int] = (0, 0)

    def start(self) -> "Window":
        self.began = time.perf_counter()
        self.cpu_began = self._cpu()
        self.machine_began = _machine_ticks()
        return self

    def _cpu(self) -> float:
        return process_cpu_seconds(self.pid) if self.pid else time.process_time()

    def finish(self) -> dict[str, float]:
        wall = time.perf_counter() - self.began
        busy, total = _machine_ticks()
        busy0, total0 = self.machine_began
        cores = os.cpu_count() or 1
        cpu = self._cpu() - self.cpu_began
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "cpu_share": cpu / wall if wall else float("nan"),  # 1.0 = one core all the time
            "machine_busy_cores": cores * (busy - busy0) / max(total - total0, 1),
            "load_1m": os.getloadavg()[0],
        }
