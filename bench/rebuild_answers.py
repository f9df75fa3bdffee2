"""What the API server answers while a projections rebuild deletes its rows.

Puts the run-status records of `--runs` runs (tests/integration/test_projector_crash.py's
shape) on fresh topics of the broker at AUTOMATIONS_BROKER_PORT; for each checkout
(`--before DIR`, the code whose rebuild deleted in the event loop, then this one), starts
its `cli.py api` on a new SQLite store, waits until it has folded the topic, asks for a
rebuild of every partition (POST /operator/projections/rebuild, which answers once the
rows are deleted) and meanwhile asks GET /health again and again: how long the rebuild's
answer took, how many /health answers came back meanwhile, and the slowest of them.

    AUTOMATIONS_BROKER_PORT=29392 python bench/rebuild_answers.py --runs 20000 --before /tmp/main-checkout
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


class ServerOf(ApiServer):
    """The API server of another checkout (its cli.py, from its folder)."""

    def __init__(self, checkout: Path, *args) -> None:
        super().__init__(*args)
        self.checkout = checkout

    def start(self, timeout: float = 3600) -> "ServerOf":
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([sys.executable, str(self.checkout / "cli.py"), "api"], env=self.env(),
                                        stdout=log, stderr=log, cwd=self.checkout, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/ready")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(self.log_tail())


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(label: str, checkout: Path, settings, total: int, folder: Path) -> None:
    server = ServerOf(checkout, Folding(settings), folder, ["s"])
    try:
        server.start()
        while server.operator("GET", "/operator/projections")[1]["position"] < total:
            time.sleep(0.5)
        answers, slowest = 0, 0.0
        with ThreadPoolExecutor(1) as background:
            began = time.perf_counter()
            rebuild = background.submit(server.operator, "POST", "/operator/projections/rebuild")
            while not rebuild.done():
                asked = time.perf_counter()
                assert server.call("GET", "/health")[0] == 200
                slowest = max(slowest, time.perf_counter() - asked)
                answers += 1
            status = rebuild.result()[0]
            rebuilt = time.perf_counter() - began
        print(f"{label}: rebuild answered {status} after {rebuilt:.2f} s; /health answered {answers} times meanwhile, "
              f"the slowest in {slowest * 1000:.0f} ms ({load()})", flush=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--before", type=Path, required=True, help="a checkout whose rebuild deleted in the event loop")
    args = parser.parse_args()
    settings = isolated_settings(crash.PARTITIONS)
    asyncio.run(ensure_topics(settings))
    try:
        total = crash.produce(settings, args.runs)
        print(f"{total:,} run-status records of {args.runs:,} runs on {settings.topics.run_status} ({load()})", flush=True)
        for label, checkout in (("before", args.before), ("after", ROOT)):
            measure(label, checkout, settings, total, Path(tempfile.mkdtemp(prefix=f"bench-rebuild-{label}-")))
    finally:
        delete_topics(settings)


if __name__ == "__main__":
    main()
