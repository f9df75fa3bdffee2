"""Learner state encode + decode, as the learner processor's store does it per input.

For each golden entry (tests/unit/golden/learner_entries/before_versions: empty,
registered, median, p90 and the biggest state of a 30,000-event run of the
engine-core workload, and one with unusual values): `load` (the state line
decoded into the engine's values) and `dump` with the state changed (encoded
again), CPU time per call (`time.process_time`), best of `--rounds`. Only
`processors.learner_entries.load` / `dump` are called, so the same script
measures any release: run it from that release's worktree (its code is imported from
the current directory), with `--goldens` pointing here.

    python bench/learner_state_codec.py [--rounds 7] [--n 20000] [--goldens DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the release measured: the worktree it is run from

from processors.learner_entries import dump, load  # noqa: E402

GOLDENS = Path(__file__).resolve().parents[1] / "tests" / "unit" / "golden" / "learner_entries" / "before_versions"


def _best(call, n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            call()
        best = min(best, (time.process_time() - started) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--goldens", type=Path, default=GOLDENS)
    args = parser.parse_args()
    print(f"{'state':<18} {'bytes':>7} {'decode us':>10} {'encode us':>10} {'both us':>9}")
    for path in sorted(args.goldens.glob("*.entry")):
        raw = path.read_bytes()
        line = raw.split(b"\n")[0]
        document = json.loads(line[line.index(b"{"):])
        school, user = document["school"], document["user"]
        entry = load(raw, school, user)
        n = max(args.n * 600 // len(raw), 200)

        def encode() -> None:
            entry.stored_state = None  # as after an input that changed the state
            dump(entry)

        decode_s = _best(lambda: load(raw, school, user), n, args.rounds)
        encode_s = _best(encode, n, args.rounds)
        print(f"{path.stem:<18} {len(line):>7} {decode_s * 1e6:>10.2f} {encode_s * 1e6:>10.2f} {(decode_s + encode_s) * 1e6:>9.2f}")


if __name__ == "__main__":
    main()
