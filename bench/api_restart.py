"""The API server's restart to `/ready` with its views in the projections' store.

Puts the run-status records of `--runs` runs (tests/integration/test_projector_crash.py's
shape: a wait, half finished, some declined entries) on fresh topics of the broker at
AUTOMATIONS_BROKER_PORT, starts `automations api` on them (it folds from offset 0 into
the store: the first start, what every start cost when the views were in memory), stops
it (SIGTERM), starts it again (it resumes at the stored offsets) and reports both times
to `/ready`, with the server's peak resident set (VmHWM) after a few answers.

    AUTOMATIONS_BROKER_PORT=29292 python bench/api_restart.py --store sqlite --runs 20000
    AUTOMATIONS_BROKER_PORT=29292 python bench/api_restart.py --store postgresql --runs 20000

`--url` starts the server on a kept store instead (`bench/api_views.py
--build-only`'s: millions of runs of the automation `welcome`). The topics are
fresh and empty at the first start, so its fold has nothing to read (its
offsets are its topic's, none stored): both starts time what opening that
store costs (migrate, offsets, first answers). With `--tail N`, N run-status
records are then produced while the server is stopped (`bench/api_restart_tail.py`:
new runs of the store's schools and automation, and the rest of waiting runs
it holds) and it starts a third time, folding them into the kept store
before `/ready`: it prints that restart's time to `/ready`, the records
applied (a waiting run finished twice is read, not applied, the second
time), and the fold's rate and the server's CPU per record, both beyond
the restart with nothing to fold before it. The folded records stay in the store (each
invocation adds new runs, tagged by its start time). The answers asked are
the kept store's (its runs list, two learners' views).

    AUTOMATIONS_BROKER_PORT=29292 python bench/api_restart.py --store sqlite \
        --url sqlite:////work/stores/sqlite/projections.sqlite3 --tail 300000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.kafka_io import ensure_topics  # noqa: E402
from tests.integration import test_projector_crash as crash  # noqa: E402
from tests.integration.api_harness import ApiServer  # noqa: E402
from tests.integration.harness import delete_topics, isolated_settings  # noqa: E402
from tests.integration.test_shared_projections import ReaderOnly  # noqa: E402


class Folding(ReaderOnly):
    def env(self) -> dict[str, str]:
        return {**super().env(), "AUTOMATIONS_PROJECTOR": "on"}


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def timed_start(server: ApiServer) -> tuple[float, float]:
    """Seconds to `/ready` and the server's CPU seconds by then."""
    began = time.perf_counter()
    server.start(timeout=3600)
    return time.perf_counter() - began, cpu_seconds(server.process.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--url", help="a kept store (bench/api_views.py --build-only) to start on")
    parser.add_argument("--tail", type=int, default=0,
                        help="with --url: run-status records produced between the two starts, for the restart to fold")
    args = parser.parse_args()
    if args.tail and not args.url:
        parser.error("--tail needs --url")
    if args.url:
        args.runs = 0  # the kept store's runs are `run-<n>` too: the same ids folded again would not be new runs
    settings = isolated_settings(crash.PARTITIONS)
    asyncio.run(ensure_topics(settings))
    folder = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    cluster = None
    try:
        total = crash.produce(settings, args.runs)
        print(f"{total:,} run-status records of {args.runs:,} runs on {settings.topics.run_status} ({load()})", flush=True)
        server = ApiServer(Folding(settings), folder, ["s"])
        if args.url:
            server.projections_url = args.url
        elif args.store == "postgresql":
            from tests.postgres import Cluster

            cluster = Cluster().start()
            server.projections_url = cluster.create_database("restart")
        first, _ = timed_start(server)
        server.stop()
        second, cpu = timed_start(server)
        tail = 0
        if args.tail:
            from bench.api_restart_tail import produce_tail

            server.stop()
            began = time.perf_counter()
            tail, described = produce_tail(settings, args.url, args.tail, crash.PARTITIONS)
            print(f"{tail:,} run-status records produced while the server was stopped ({described}) in "
                  f"{time.perf_counter() - began:.1f} s ({load()})", flush=True)
            idle = second, cpu
            second, cpu = timed_start(server)
        automation, learners = ("welcome", ["learner-10", "c7-learner-10"]) if args.url else ("a1", ["learner-10"])
        for _ in range(20):
            answered = [server.school("s", "GET", f"/automations/{automation}/runs?limit=50")[0],
                        server.school("s", "GET", f"/automations/{automation}/steps")[0]]
            answered += [server.school("s", "GET", f"/learners/{learner}/runs")[0] for learner in learners]
        print(f"  the last answers' statuses (runs list, steps, learners): {answered}", flush=True)
        _, progress = server.operator("GET", "/operator/projections")
        started = "first start on the kept store" if args.url else "first start (fold from offset 0)"
        print(f"{args.store}: {started} to /ready {first:.1f} s; restart to /ready {second:.1f} s; "
              f"server peak resident set {peak_mb(server.process.pid):.0f} MB; records applied {progress['records_applied']:,} "
              f"of {total + tail:,} ({load()})", flush=True)
        if tail:
            beyond, beyond_cpu = second - idle[0], cpu - idle[1]
            rate = f"{tail / beyond:,.0f} records/s" if beyond > 0 else "-"
            print(f"  the restart with {tail:,} records to fold against the restart before it with none ({idle[0]:.1f} s to "
                  f"/ready, server CPU {idle[1]:.1f} s): {beyond:+.1f} s, the fold's rate {rate}; server CPU {cpu:.1f} s, "
                  f"{beyond_cpu / tail * 1e6:,.0f} us a record beyond the open's", flush=True)
        server.stop()
    finally:
        delete_topics(settings)
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
