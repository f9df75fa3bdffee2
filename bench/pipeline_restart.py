"""The pipeline benchmark's restart phase: how long a worker is away after a crash.

Warm: `kill -9` the worker (it idles, every input committed) and start it
again on its data folder, with the same instance id (host and web port), so
its transactional id fences its killed self; the figure is the seconds from
the kill to `/ready/` answering 200, and what `/ready/` said until then
(each problem list it gave, with the second it first gave it).

Cold: stop the worker cleanly (it leaves the group at once), empty its data
folder and start it again: the seconds to ready, and the restore rate, from
the restore's own log lines (records applied over the seconds spent applying).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import time
import urllib.error
import urllib.request

from bench.pipeline_kafka import total_end_offset
from bench.pipeline_measure import Window
from bench.pipeline_phases import Bench, until_worker_idle

_RESTORED = re.compile(r"restored (\S+)\[(\d+)\]: (\d+) records in ([\d.]+)s")


def measure_restart(bench: Bench, cold: bool = True) -> dict:
    worker = bench.worker
    logged_from = worker.log_path.stat().st_size
    began = time.perf_counter()
    worker.kill()
    killed = time.perf_counter()
    with _ReadyLog(worker.web_port, began) as said:
        worker.start(timeout=600.0)
    figures = {"restart_ready_s": time.perf_counter() - began, "restart_kill_s": killed - began, "restart_not_ready": said,
               "restart_errors": _errors(worker.log_path, logged_from)}
    asyncio.run(until_worker_idle(bench))
    bench.say(f"restart after kill -9: ready {figures['restart_ready_s']:.1f} s after the kill; /ready/ said "
              + "; ".join(f"at {at:.1f} s: {', '.join(problems)}" for at, problems in said)
              + "".join(f"\n  worker log: {line}" for line in figures["restart_errors"]))


    if cold:
        figures |= _cold(bench)
    return figures


def _errors(path, offset: int, most: int = 5) -> list[str]:
    """The worker's error lines written since `offset` (the first few)."""
    with open(path, errors="replace") as log:
        log.seek(offset)
        return [line.strip()[:300] for line in log if "ERROR" in line or "session ended" in line][:most]


class _ReadyLog:
    """Polls a worker's /ready/ in a thread; the list of (seconds since `began`, problems) each time they change."""

    def __init__(self, port: int, began: float) -> None:
        self.url, self.began = f"http://127.0.0.1:{port}/ready/", began
        self.said: list[tuple[float, list[str]]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> list[tuple[float, list[str]]]:
        self.thread.start()
        return self.said

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.done.wait(0.25):
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    problems = json.loads(answer.read())["problems"]
            except urllib.error.HTTPError as error:
                problems = json.loads(error.read() or b"{}").get("problems", [f"HTTP {error.code}"])
            except (OSError, ValueError):
                problems = ["no answer"]
            kinds = [re.sub(r"\d+", "N", p) for p in problems]
            if not self.said or [re.sub(r"\d+", "N", p) for p in self.said[-1][1]] != kinds:
                self.said.append((round(time.perf_counter() - self.began, 1), problems))


def _cold(bench: Bench) -> dict:
    worker, app_id = bench.worker, bench.settings.app_id
    changelog = sum(asyncio.run(total_end_offset(bench.settings, f"{app_id}-{name}-changelog"))
                    for name in ("learners", "live-runs"))
    worker.stop()
    shutil.rmtree(worker.data_dir, ignore_errors=True)
    logged_from = worker.log_path.stat().st_size
    worker.loglevel = "info"  # the restore reports what it applied at info
    try:
        window = Window().start()
        worker.start(timeout=1200.0)
        ready = window.finish()["wall_s"]
    finally:
        worker.loglevel = "warn"
    with open(worker.log_path, errors="replace") as log:
        log.seek(logged_from)
        restores = [(int(m[3]), float(m[4])) for m in _RESTORED.finditer(log.read())]
    applied, seconds = sum(n for n, _ in restores), sum(s for _, s in restores)
    figures = {"cold_ready_s": ready, "cold_changelog_records": changelog, "cold_restored_records": applied,
               "cold_restore_s": seconds, "cold_restore_records_per_s": applied / seconds if seconds else float("nan")}
    asyncio.run(until_worker_idle(bench))
    bench.say(f"cold start on an empty data folder: ready in {ready:.1f} s; restored {applied:,} changelog records "
              f"(of {changelog:,} offsets) in {seconds:.1f} s: {figures['cold_restore_records_per_s']:,.0f} records/s")
    return figures
