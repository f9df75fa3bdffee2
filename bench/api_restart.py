"""The API server's restart to `/ready` with its views in the projections' store.

Puts the run-status records of `--runs` runs (tests/integration/test_projector_crash.py's
shape: a wait, half finished, some declined entries) on fresh topics of the broker at
AUTOMATIONS_BROKER_PORT, starts `automations api` on them (it folds from offset 0 into
the store: the first start, what every start cost when the views were in memory), stops
it (SIGTERM), starts it again (it resumes at the stored offsets) and reports both times
to `/ready`, with the server's peak resident set (VmHWM) after a few answers.

    AUTOMATIONS_BROKER_PORT=29292 python bench/api_restart.py --store sqlite --runs 20000
    AUTOMATIONS_BROKER_PORT=29292 python bench/api_restart.py --store postgresql --runs 20000
"""

from __future__ import annotations

import argparse
import asyncio
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


def timed_start(server: ApiServer) -> float:
    began = time.perf_counter()
    server.start(timeout=3600)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--runs", type=int, default=20_000)
    args = parser.parse_args()
    settings = isolated_settings(crash.PARTITIONS)
    asyncio.run(ensure_topics(settings))
    folder = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    cluster = None
    try:
        total = crash.produce(settings, args.runs)
        print(f"{total:,} run-status records of {args.runs:,} runs on {settings.topics.run_status} ({load()})", flush=True)
        server = ApiServer(Folding(settings), folder, ["s"])
        if args.store == "postgresql":
            from tests.postgres import Cluster

            cluster = Cluster().start()
            server.projections_url = cluster.create_database("restart")
        first = timed_start(server)
        server.stop()
        second = timed_start(server)
        for _ in range(20):
            server.school("s", "GET", "/automations/a1/runs?limit=50")
            server.school("s", "GET", "/automations/a1/steps")
            server.school("s", "GET", "/learners/learner-10/runs")
        _, progress = server.operator("GET", "/operator/projections")
        print(f"{args.store}: first start (fold from offset 0) to /ready {first:.1f} s; restart to /ready {second:.1f} s; "
              f"server peak resident set {peak_mb(server.process.pid):.0f} MB; records applied {progress['records_applied']:,} "
              f"of {total:,} ({load()})", flush=True)
        server.stop()
    finally:
        delete_topics(settings)
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
