"""CPU per run-status record: the record read field by field against the one built from `as_dict`.

The pipeline benchmark's mix (bench/pipeline_workload.py) through the learner
processor alone (bench/learner_processor_cpu.py's world) gives the run-status
events a worker writes; each is then made into its record, its Avro bytes and,
for a run start or end, its automation-runs key, two ways in alternating
rounds in one process: as before (`reference_record` of
tests/unit/test_run_status_record.py, then `automation_runs_key` decoding the
bytes) and as the learner processor does now (`processors.records.run_status_dict`,
the key from the record). CPU time (`time.process_time`) per record.

    python bench/run_status_record.py [--events 5000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the release measured: the worktree it is run from

import bench.learner_processor_cpu as processor_cpu  # noqa: E402
from bench.pipeline_workload import mix_events  # noqa: E402
from engine.events import route  # noqa: E402
from processors import records  # noqa: E402
from schemas.codec import encode  # noqa: E402
from tests.unit.test_run_status_record import reference_record  # noqa: E402


def run_status_events(events: int) -> list[tuple]:
    """(event, school, user) of every run-status event the mix makes."""
    seen: list[tuple] = []
    keyed = records.keyed_output_records

    def watching(decided, school: str, user: str):
        seen.extend((event, school, user) for event in decided if route(event) == "run_status")
        return keyed(decided, school, user)

    records.keyed_output_records = watching
    try:
        processor_cpu._run(mix_events(events, events // 2, processor_cpu.START), 500)
    finally:
        records.keyed_output_records = keyed
    return seen


def as_before(event, school: str, user: str) -> None:
    record = reference_record(event, school, user)
    value = encode("run_status", record)
    if records.membership_change(record):
        records.automation_runs_key(value)


def as_now(event, school: str, user: str) -> None:
    record = records.run_status_dict(event, school, user)
    encode("run_status", record)
    if records.membership_change(record):
        f"{record['school']}:{record['automation_id']}".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    seen = run_status_events(args.events)
    print(f"{len(seen):,} run-status records")
    for round_ in range(args.rounds):
        for name, make in (("as_dict, then decoded for the key", as_before), ("field by field", as_now)):
            began = time.process_time()
            for _ in range(5):
                for event, school, user in seen:
                    make(event, school, user)
            spent = (time.process_time() - began) / (5 * len(seen))
            print(f"round {round_ + 1}: {name}: {spent * 1e6:.2f} us CPU per run-status record")


if __name__ == "__main__":
    main()
