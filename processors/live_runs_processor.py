"""The live-runs processor: which runs of each automation are still live, for finishing deletes.

Deleting with learners inside may choose `finishing` (ruling 10): no new
entries, runs continue, and the automation is removed once the last run ends.
The learner processor sends each run start and end, besides to the run-status
topic, to the automation-runs topic keyed `school:automation`; this processor
keeps the set of live runs per automation in its store (keyed
`school:automation|run`, so a record read again counts once), and
`processors.finishing` removes a finishing automation whose set is empty. A
record on that topic that is no run start or end (only a hand-made one is)
is dead-lettered.
"""

from __future__ import annotations

from typing import Sequence

from processors import metrics
from processors.config import Topics
from processors.dead_letters import dead_letter_record
from processors.records import TERMINAL, membership_change
from processors.stream.contract import Emit, Input, Output
from processors.stream.state_store import PartitionStore
from schemas.codec import DecodeError, decode

LIVE = b"1"


def not_a_run_membership(automation_key: bytes | None, record: dict) -> str | None:
    """Why a record on this topic is not a run start or end (only a hand-made one is not)."""
    if not membership_change(record):
        return (f"a {record['kind']} record (status {record.get('status')!r}, run_id {record.get('run_id')!r}); "
                "this topic holds run starts and ends only")
    if not automation_key:
        return "a run start or end without its key (school:automation)"
    return None


def has_live_runs(store: PartitionStore, automation_key: bytes) -> bool:
    return bool(store.committed_keys(automation_key + b"|", limit=1))


class LiveRunsProcessor:
    name = "live-runs"
    # Its records are the learner processor's run starts and ends, read back right after their
    # commit: alone they would take a transaction of their own, and the next school event (the
    # next synchronous ingest call's) would wait for it. A finishing delete waits as long at most.
    may_wait = 0.05

    def __init__(self, topics: Topics, clock):
        self.topics = (topics.automation_runs,)
        self._dead_letter_topic = topics.dead_letter
        self._clock = clock

    def process(self, partition: int, inputs: Sequence[Input], store: PartitionStore, emit: Emit) -> None:
        for item in inputs:
            metrics.count("automations_inputs_total", topic=item.topic)
            try:
                record = decode("run_status", item.value or b"")
                problem = not_a_run_membership(item.key, record)
            except DecodeError as error:
                problem = str(error)
            if problem is not None:
                emit(Output(self._dead_letter_topic, item.key, dead_letter_record(item, problem, self._clock.now())))
                metrics.count("automations_dead_letters_total", source_topic=item.topic)
                continue
            member = item.key + b"|" + record["run_id"].encode()
            if record["kind"] == "run_status_changed" and record.get("status") in TERMINAL:
                store.delete(member)
            else:
                store.put(member, LIVE)

    def punctuate(self, partition: int, store: PartitionStore, emit: Emit, limit: int | None = None) -> int:
        return 0

    def restored(self, store: PartitionStore, key: bytes, value: bytes | None) -> None:
        if value is None:
            store.delete(key)
        else:
            store.put(key, value)
