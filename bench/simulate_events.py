"""A large events file for `automations simulate`: the example stream, many times over.

Writes `examples/events.jsonl` copied for as many learners as it takes to reach
`--events` lines: copy K renames every learner `NAME-K` and every event id
`evt-K-NNNN`, and keeps the times, so each copy runs the example automations
exactly as the original does. bench/BENCHMARKS.md (Simulate) measures
`simulate` on its output.

    python bench/simulate_events.py --events 50000 > /tmp/events-50k.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "events.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="lines to write (default 50,000)")
    count = parser.parse_args().events
    example = [json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    written, copy = 0, 0
    while written < count:
        for event in example[: count - written]:
            event = dict(event, id=f"evt-{copy}-{event['id'].removeprefix('evt-')}", user=f"{event['user']}-{copy}")
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            written += 1
        copy += 1


if __name__ == "__main__":
    main()
