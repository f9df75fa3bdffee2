"""CPU per mix event through the learner processor alone: the worker's per-input work without Kafka.

The pipeline benchmark's mix (bench/pipeline_workload.py: its automations, its
events as Avro bytes) through `LearnerProcessor.process`, in batches as the
stream task makes them (`--batch` records over 8 partitions, each batch
committed to the real RocksDB stores of tests/unit/stream_world.py), with the
changelog's values taken per batch as the task takes them. What it leaves out
is Kafka: consuming, producing, the transaction. CPU time per event
(`time.process_time`), best of `--rounds` fresh runs; `--profile` prints
cProfile's top functions of one more run instead. The code measured is the
checkout it is run from, so the same script measures a baseline worktree.

    python bench/learner_processor_cpu.py [--events 20000] [--learners 5000] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the release measured: the worktree it is run from

from bench.pipeline_workload import mix_events, school_automations  # noqa: E402
from tests.unit.stream_world import TOPICS, ProcessorWorld  # noqa: E402

START = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


def _active(automations: list) -> list:
    """The automations as the lifecycle leaves them once activated (a day before the events)."""
    return [a.model_copy(update={"status": "active", "version": 1, "activated_at": START - timedelta(days=1)})
            for a in automations]


def _run(events: list[tuple[str, bytes]], batch: int, profile: cProfile.Profile | None = None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="learner-cpu-") as folder:
        world = ProcessorWorld(Path(folder), _active(school_automations()), partitions=8, start=START)
        inputs = [world.input(TOPICS.school_events, key.encode(), value, timestamp_ms=n + 1)
                  for n, (key, value) in enumerate(events)]
        world.clock.move_to(START + timedelta(seconds=1))
        if profile is not None:
            profile.enable()
        began = time.process_time()
        for at in range(0, len(inputs), batch):
            world.deliver(*inputs[at:at + batch])
            world.changelog.clear()
        spent = time.process_time() - began
        if profile is not None:
            profile.disable()
        outputs = len(world.outputs)
        world.close()
    return spent / len(events), outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--learners", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    events = mix_events(args.events, args.learners, START)
    if args.profile:
        profile = cProfile.Profile()
        _run(events, args.batch, profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        return
    results = [_run(events, args.batch) for _ in range(args.rounds)]
    best = min(per_event for per_event, _ in results)
    print(f"{best * 1e6:.1f} us CPU per mix event through the learner processor (best of {args.rounds}: "
          f"{', '.join(f'{r * 1e6:.1f}' for r, _ in results)}); {results[0][1]:,} outputs")


if __name__ == "__main__":
    main()
