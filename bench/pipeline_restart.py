"""The pipeline benchmark's restart phase: how long a worker is away after a crash.

Warm: `kill -9` the worker (it idles, every input committed) and start it
again on its data folder, with the same instance id (host and web port), so
its transactional id fences its killed self; the figure is the seconds from
the kill to `/ready/` answering 200. The consumer group still holds the
killed member until its session times out (AUTOMATIONS_SESSION_TIMEOUT), so
this figure follows that setting.

Cold: stop the worker cleanly (it leaves the group at once), empty its data
folder and start it again: the seconds to ready, and the restore rate, from
the restore's own log lines (records applied over the seconds spent applying).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time

from bench.pipeline_kafka import total_end_offset
from bench.pipeline_measure import Window
from bench.pipeline_phases import Bench, until_worker_idle

_RESTORED = re.compile(r"restored (\S+)\[(\d+)\]: (\d+) records in ([\d.]+)s")


def measure_restart(bench: Bench, cold: bool = True) -> dict:
    worker = bench.worker
    began = time.perf_counter()
    worker.kill()
    killed = time.perf_counter()
    worker.start(timeout=600.0)
    figures = {"restart_ready_s": time.perf_counter() - began, "restart_kill_s": killed - began}
    asyncio.run(until_worker_idle(bench))
    bench.say(f"restart after kill -9: ready {figures['restart_ready_s']:.1f} s after the kill")
    if cold:
        figures |= _cold(bench)
    return figures


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
