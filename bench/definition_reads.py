"""How often the engine reads the pydantic definitions per input: would compiling them pay?

The definitions (`Automation`, triggers, conditions, steps) stay pydantic models,
the documents people write; the engine reads them on the hot path. This counts
every attribute read on them (through `engine.definitions.Model`) during one
pass of bench/engine_core.py's mix and of its page views, so the reads per input
times the read cost of a pydantic model against a Struct (bench/value_kinds.py)
bounds what compiling them into Structs could save (bench/BENCHMARKS.md,
"Engine values"). Counting slows the pass; only the counts are reported.

    python bench/definition_reads.py [--events 20000] [--learners 20000] [--top 12]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import engine_core as core  # noqa: E402
from engine.catalog import Catalog  # noqa: E402
from engine.definitions import Model  # noqa: E402
from engine.values import replace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--learners", type=int, default=20_000)
    parser.add_argument("--automations", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    catalog = Catalog.of(core.make_automations(args.automations, rng))
    states = core.make_learners(args.learners, rng)
    events = core.make_events(args.events, states, 3.0, rng)
    core.run("warm-up", events[:2_000], dict(states), catalog, 0)  # fills the catalog's caches first

    reads: Counter[tuple[str, str]] = Counter()
    read = Model.__getattribute__

    def counting(model, name):
        reads[(type(model).__name__, name)] += 1
        return read(model, name)

    Model.__getattribute__ = counting  # type: ignore[method-assign]
    _, _, emitted = core.run("mix", events, dict(states), catalog, 0)
    inputs = len(events) + emitted["fire_timer"]
    total = sum(reads.values())
    print(f"mix: {inputs} inputs ({emitted['run_started']} runs started): {total} definition reads, "
          f"{total / inputs:.1f} per input, {total / max(1, emitted['run_started']):.1f} per run started")
    for (kind, name), count in reads.most_common(args.top):
        print(f"  {kind}.{name}: {count}")
    reads.clear()
    quiet = [replace(e, type="user.activity", data={"kind": "page_view"}) for e in events]
    core.run("page views", quiet, dict(states), catalog, 0)
    print(f"page views: {len(quiet)}: {sum(reads.values())} definition reads, {sum(reads.values()) / len(quiet):.2f} per page view")
    Model.__getattribute__ = read  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
