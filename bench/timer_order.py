"""Timer order, many seeds: the live worker against `simulate` where a learner's timers come due together.

The long form of tests/integration/test_timer_order_differential.py. Seeded
random schools (tests/integration/timer_order_schools.py: calendar waits of
every kind on shared instants, durations, tags that trigger other
automations, end runs through exits and decide branches), and the fixed
cases unless `--no-fixed`, are played in batches, each batch on a fresh
live worker (tests/integration/harness.py) on the broker at
AUTOMATIONS_BROKER_PORT, and through `simulate`; every school's runs,
statuses, actions, declined and skipped entries are compared
(docs/engine.md, Timer order: a learner's timers of one instant fire in the
order they were scheduled).

One line per school as each batch ends: its runs, its ties (instants two or
more timers of one learner were scheduled for), whether firing the ties in
timer-id order would change its runs ("order matters"), how many
differences the live worker showed and which order its runs match then
(timer-id order: the worker's due index before the ruling; neither: another
cause). A summary follows; with `--show N` the
first N differences of each differing school too. Exit status 1 when a
school differs.

With `--restore-after-hours H` each worker is stopped H hours into the
schools' story, its data folder deleted, and started again: it goes on with
the state it restores from its changelogs, pending ties among it.

    python bench/timer_order.py [--seeds 50] [--first-seed 0] [--per-worker 10] [--learners 3]
                                [--automations 5] [--partitions 4] [--no-fixed] [--show 2]
                                [--restore-after-hours 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.harness import Worker, delete_topics, isolated_settings  # noqa: E402
from tests.integration.school_differential import Verdict, order_matters, play_schools  # noqa: E402
from tests.integration.timer_order_schools import ACTIVATED_AT, FIXED, UNTIL, School, random_school  # noqa: E402


def batches(schools: list[School], size: int) -> list[list[School]]:
    return [schools[start:start + size] for start in range(0, len(schools), size)]


def play_batch(schools: list[School], partitions: int, folder: Path, restore_at: datetime | None) -> list[Verdict]:
    """One fresh worker on fresh topics for the batch; stopped and its topics deleted after."""
    worker = Worker(isolated_settings(partitions), data_dir=folder / "worker", log_path=folder / "worker.log")
    try:
        worker.start()
        return play_schools(worker, schools, UNTIL, restore_at)
    finally:
        worker.stop()
        delete_topics(worker.settings)


def line(verdict: Verdict, sensitive: bool) -> str:
    outcome = f"DIFFERS ({len(verdict.differences)}), as in {verdict.follows}" if verdict.differences else "agrees"
    return (f"  {verdict.school:<12} runs {verdict.runs:>3}  ties {verdict.ties:>3}  "
            f"order matters: {'yes' if sensitive else 'no ':<3}  live: {outcome}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50, help="how many random schools")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--per-worker", type=int, default=10, help="schools played on one worker at once")
    parser.add_argument("--learners", type=int, default=3, help="learners per random school")
    parser.add_argument("--automations", type=int, default=5, help="automations per random school")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--no-fixed", action="store_true", help="leave the fixed cases out")
    parser.add_argument("--show", type=int, default=0, help="print the first N differences of each differing school")
    parser.add_argument("--restore-after-hours", type=float, default=None,
                        help="restart each worker on an empty data folder this long into the story")
    args = parser.parse_args()
    restore_at = None if args.restore_after_hours is None else ACTIVATED_AT + timedelta(hours=args.restore_after_hours)

    schools = [] if args.no_fixed else [make() for make in FIXED]
    schools += [
        random_school(seed, args.learners, args.automations)
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    sensitive = {school.name: bool(order_matters(school, UNTIL)) for school in schools}
    groups = batches(schools, args.per_worker)
    restoring = f", each worker restored from its changelogs at {restore_at:%Y-%m-%d %H:%M}" if restore_at else ""
    print(f"{len(schools)} schools in {len(groups)} batch(es) of up to {args.per_worker}{restoring}; "
          f"{sum(sensitive.values())} where firing ties in timer-id order would change the runs", flush=True)

    verdicts: list[Verdict] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="timer-order-") as scratch:
        for number, group in enumerate(groups, start=1):
            batch_started = time.monotonic()
            print(f"batch {number}/{len(groups)}: {group[0].name} .. {group[-1].name}, "
                  f"{sum(len(school.events) for school in group)} events ...", flush=True)
            folder = Path(scratch) / f"batch-{number}"
            folder.mkdir()
            played = play_batch(group, args.partitions, folder, restore_at)
            verdicts += played
            for verdict in played:
                print(line(verdict, sensitive[verdict.school]), flush=True)
                for difference in verdict.differences[: args.show]:
                    print("    " + difference.replace("\n", "\n    "))
            elapsed = time.monotonic() - started
            print(f"  batch {number} took {time.monotonic() - batch_started:.0f} s; "
                  f"about {elapsed / number * (len(groups) - number):.0f} s to go", flush=True)

    differing = [verdict for verdict in verdicts if verdict.differences]
    unexpected = [verdict.school for verdict in differing if verdict.follows == "neither"]
    print(f"\nsummary: {len(verdicts)} schools, {len(differing)} differ live, "
          f"{sum(sensitive.values())} where the order of ties matters, "
          f"{sum(verdict.ties for verdict in verdicts)} ties; {time.monotonic() - started:.0f} s")
    if differing:
        print("differing: " + ", ".join(f"{v.school} ({len(v.differences)})" for v in differing))
    if unexpected:
        print("differing in neither order of ties (another cause): " + ", ".join(unexpected))
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
