"""The operator's `runs list` at scale: folding the topic in memory each time, against the projections' store.

Puts the run-status records of `--runs` runs (tests/integration/test_projector_crash.py's
shape: a wait, half finished, some declined entries) on fresh topics of the broker at
AUTOMATIONS_BROKER_PORT, then times `cli.py runs list --automation a1` (the newest 100),
each a process of its own, with its peak resident set (its own rusage, from wait4):

- before: `--before DIR`'s cli.py (a checkout of the code that folded the topic into
  memory on every command), run by this interpreter from that folder;
- cold: this checkout's, on a new SQLite store (it folds the whole topic into it first);
- warm: this checkout's again, on that store (it folds nothing: the store is up to date).

The three alternate for `--rounds` rounds (a new store each round), so the before and
after figures share the box's load; the load average is printed with each.

    AUTOMATIONS_BROKER_PORT=29392 python bench/cli_views.py --runs 50000 --before /tmp/main-checkout
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.kafka_io import ensure_topics  # noqa: E402
from tests.integration import test_projector_crash as crash  # noqa: E402
from tests.integration.harness import delete_topics, isolated_settings  # noqa: E402

COMMAND = ["runs", "list", "--automation", "a1"]


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(checkout: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds, peak resident MB and the output of one command run from `checkout`."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(checkout / "cli.py"), *COMMAND], cwd=checkout, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{checkout}: {' '.join(COMMAND)} exited with {process.returncode}")
    return seconds, usage.ru_maxrss / 1024, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the in-memory CLI (its cli.py)")
    args = parser.parse_args()
    settings = isolated_settings(crash.PARTITIONS)
    asyncio.run(ensure_topics(settings))
    folder = Path(tempfile.mkdtemp(prefix="bench-cli-views-"))
    env = {**os.environ, "AUTOMATIONS_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
           "AUTOMATIONS_TOPIC_PREFIX": settings.topics.prefix, "AUTOMATIONS_APP_ID": settings.app_id,
           "AUTOMATIONS_PARTITIONS": str(crash.PARTITIONS)}
    try:
        total = crash.produce(settings, args.runs)
        print(f"{total:,} run-status records of {args.runs:,} runs on {settings.topics.run_status} ({load()})", flush=True)
        for round_ in range(args.rounds):
            store = {**env, "AUTOMATIONS_PROJECTIONS_URL": f"sqlite:///{folder / f'round-{round_}.sqlite3'}"}
            before = timed(args.before, env)
            cold = timed(ROOT, store)
            warm = timed(ROOT, store)
            assert before[2] == cold[2] == warm[2], "the same runs printed"
            for label, (seconds, peak, _) in (("before (in memory)", before), ("cold store", cold), ("warm store", warm)):
                print(f"round {round_ + 1} {label}: {seconds:.2f} s, peak resident set {peak:.0f} MB ({load()})", flush=True)
    finally:
        delete_topics(settings)


if __name__ == "__main__":
    main()
