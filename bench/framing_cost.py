"""The cost per record of each framing: Avro single-object encoding against the Confluent wire format.

Encodes and decodes typical records of three topics (a run-status change, an
action, a school event) in each framing through `schemas.codec`, as the worker
does, and prints microseconds per record (the best of `--rounds` rounds). The schema
ids come from confluent-kafka's in-memory registry (`mock://`), registered
once before timing: what the timed loop measures is what a record costs once a
process knows its ids, the point being that it asks the registry nothing.
bench/BENCHMARKS.md (Framing) records the figures.

    python bench/framing_cost.py
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas import codec  # noqa: E402
from schemas.confluent import SchemaRegistryIds  # noqa: E402
from schemas.school_events import school_event_to_avro  # noqa: E402
from engine.school_events import parse_school_event  # noqa: E402

AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
RECORDS = {
    "run_status": {"kind": "run_status_changed", "school": "s1", "user": "u42", "automation_id": "welcome",
                   "automation_version": 3, "run_id": "run-welcome-u42-evt-1", "at": AT, "status": "fulfilled"},
    "action": {"idempotency_key": "run-welcome-u42-evt-1/hello", "type": "send_email", "school": "s1", "user": "u42",
               "automation_id": "welcome", "run_id": "run-welcome-u42-evt-1", "step_id": "hello", "at": AT,
               "template": "welcome"},
    "school_event": school_event_to_avro(parse_school_event({
        "id": "evt-1", "type": "user.tag_added", "school": "s1", "user": "u42",
        "occurred_at": "2027-03-01T09:00:00Z", "data": {"tag": "new"}})),
}


def timed(action, count: int) -> float:
    began = time.process_time()
    for _ in range(count):
        action()
    return (time.process_time() - began) / count * 1e6  # CPU time: a busy machine's other work is not counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000, help="records per timed round")
    parser.add_argument("--rounds", type=int, default=30, help="rounds, the framings taking turns (the best is kept)")
    args = parser.parse_args()
    ids = SchemaRegistryIds("mock://bench", {kind: (f"bench.{kind}",) for kind in codec.TOPIC_KINDS})
    ids.prepare()
    framings = (("single-object", None), ("confluent", ids))
    print(f"{'record':<14}{'framing':<15}{'bytes':>6}{'encode us':>11}{'decode us':>11}")
    for kind, record in RECORDS.items():
        best: dict[str, list[float]] = {name: [float("inf")] * 2 for name, _ in framings}
        sizes = {}
        # The framings take turns, round after round, so a busy machine slows both alike; the best round counts.
        for _ in range(args.rounds):
            for name, framing in framings:
                codec.use_schema_registry(framing)
                value = codec.encode(kind, record)
                sizes[name] = len(value)
                figures = (timed(lambda: codec.encode(kind, record), args.records),
                           timed(lambda: codec.decode(kind, value), args.records))
                best[name] = [min(old, new) for old, new in zip(best[name], figures)]
        for name, _ in framings:
            print(f"{kind:<14}{name:<15}{sizes[name]:>6}{best[name][0]:>11.2f}{best[name][1]:>11.2f}")
    codec.use_schema_registry(None)


if __name__ == "__main__":
    main()
