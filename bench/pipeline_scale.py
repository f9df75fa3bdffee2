"""The pipeline benchmark's scale-out phase: one worker, then two worker processes of the same group.

The run's worker (warm by now) takes a fresh mix alone; then a second worker
process joins its consumer group (its own data folder and instance id, so
its own transactional id and, when the first has one, its own static
membership), the partitions are shared out and the second's stores are
restored from the changelogs; then another fresh mix of the same size is
timed until the group has committed it and everything made of it. Both figures
come from this phase, back to back, so the second has its baseline in the
same run: events/s, and each worker's CPU per event (/proc/<pid>/stat).

On one machine the two workers share its cores with the broker and this
benchmark's producer: the figure is what the machine gives, not what two
machines would.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta, timezone

from bench.pipeline_phases import Bench, timed_mix, until_worker_idle
from bench.pipeline_workload import mix_events


def measure_two_workers(bench: Bench, events: int, learners: int, second) -> dict:
    """`second`: a started-on-demand worker of the same settings (not yet started)."""
    at = datetime.now(timezone.utc) + timedelta(seconds=1)
    asyncio.run(until_worker_idle(bench))
    one = timed_mix(bench, mix_events(events, learners, at, seed=3, prefix="scale-one"),
                    [bench.worker.process.pid], "one worker, a fresh mix")
    second.start()
    asyncio.run(until_worker_idle(bench))  # the rebalance, and the second's restore, are behind us
    pids = [bench.worker.process.pid, second.process.pid]
    two = timed_mix(bench, mix_events(events, learners, at, seed=4, prefix="scale-two"), pids, "two workers, a fresh mix")
    cpu = [usage["cpu_s"] for usage in two["usage"]]
    figures = {
        "scale_one_events_per_s": one["events_per_s"],
        "scale_one_cpu_us_per_event": one["usage"][0]["cpu_s"] / events * 1e6,
        "scale_one_machine_busy_cores": one["usage"][0]["machine_busy_cores"],
        "scale_two_events_per_s": two["events_per_s"],
        "scale_two_cpu_us_per_event": sum(cpu) / events * 1e6,
        "scale_two_cpu_shares": [usage["cpu_share"] for usage in two["usage"]],
        "scale_two_machine_busy_cores": two["usage"][0]["machine_busy_cores"],
        "scale_two_load_1m": os.getloadavg()[0],
    }
    bench.say(f"scale-out: one worker {one['events_per_s']:,.0f} mix events/s ({figures['scale_one_cpu_us_per_event']:,.0f} us "
              f"CPU each, machine busy {figures['scale_one_machine_busy_cores']:.2f} cores); two workers "
              f"{two['events_per_s']:,.0f}/s ({figures['scale_two_cpu_us_per_event']:,.0f} us CPU each over both, "
              f"{' + '.join(f'{share:.0%}' for share in figures['scale_two_cpu_shares'])} of a core, machine busy "
              f"{figures['scale_two_machine_busy_cores']:.2f} of {os.cpu_count()} cores)")
    return figures
