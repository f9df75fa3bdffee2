"""Finishing deletes: remove an automation once its last learner has left.

Deleting with learners inside may choose `finishing` (ruling 10): no new
entries, runs continue, and the automation is removed once the last run ends.
This agent keeps, per automation, the set of live runs (keyed
`school:automation|run`, so a re-delivered record counts once). A periodic
check removes every finishing automation whose set is empty, through the same
lifecycle decider as the CLI: on the worker that holds the automation's
partition, once it has taken in every record sent there so far.
Every record is taken in, in order, even those Faust skips after a restart
(`processors.input_positions`): an end missed would leave a run live for good,
and the automation never removed; a start missed, removed too early.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2
from faust.types import TP

from engine import lifecycle as lc
from processors import definitions_log
from processors.app import app, automation_runs_topic, clock, live_runs_table, settings
from processors.definitions_table import definitions
from processors.dead_letters import dead_letter, decode_or_dead_letter
from processors.input_positions import InputPositions
from processors.periodic import every
from processors.records import TERMINAL, membership_change

CHECK_INTERVAL = 2.0


def partition_of(automation_key: bytes, partitions: int) -> int:
    """Where the run starts and ends of an automation land: the learner processor sends
    them keyed by automation with no partition, so Kafka's default partitioner picks."""
    return (murmur2(automation_key) & 0x7FFFFFFF) % partitions


# In the live-runs table, so a worker that rebuilds it from the changelog knows where it was.
positions = InputPositions(live_runs_table, settings, (settings.topics.automation_runs,))


@app.agent(automation_runs_topic, concurrency=1)
async def live_runs(stream):
    async for event in stream.events():
        await positions.process(event, _take_in)


async def _take_in(event) -> list:
    """Apply one run start or end (a Faust event or a record read again); returns a dead letter's send."""
    sends: list = []
    record = await decode_or_dead_letter("run_status", event, sends)
    if record is None:
        return sends
    problem = not_a_run_membership(event.key, record)
    if problem is not None:
        sends.append(await dead_letter(event.message, problem))
    else:
        _apply(event.key, record)
    return sends


def not_a_run_membership(automation_key: bytes | None, record: dict) -> str | None:
    """Why a record on this topic is not a run start or end (only a hand-made one is not)."""
    if not membership_change(record):
        return (f"a {record['kind']} record (status {record.get('status')!r}, run_id {record.get('run_id')!r}); "
                "this topic holds run starts and ends only")
    if not automation_key:
        return "a run start or end without its key (school:automation)"
    return None


def _apply(automation_key: bytes, record: dict) -> None:
    member = automation_key + b"|" + record["run_id"].encode()
    # Every record says again whether its run is live, also when that changes nothing:
    # a record delivered again after a crash that lost the changelog record of the first
    # time puts it there. (A count beside the set drifted that way, and no record could
    # put it right: the crash test ended with a count of 1 and no live run.)
    if record["kind"] == "run_status_changed" and record.get("status") in TERMINAL:
        del live_runs_table[member]
    else:
        live_runs_table[member] = b"1"


def _has_live_runs(db, automation_key: bytes) -> bool:
    prefix = automation_key + b"|"
    for key in db.keys(from_key=prefix):
        return key.startswith(prefix)
    return False


def empty_finishing_automations() -> list[str]:
    """Finishing automations without a live run, as the worker holding their partition sees
    once it has taken in every run start and end sent there so far."""
    topic = settings.topics.automation_runs
    held = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    empty = []
    for automation in definitions.catalog.finishing():
        key = f"{automation.school}:{automation.id}".encode()
        partition = partition_of(key, settings.partitions)
        db = live_runs_table.data._dbs.get(partition)
        if partition not in held or db is None:
            continue
        end, progress = app.consumer.highwater(TP(topic, partition)), positions.progress(topic, partition)
        if end is None or progress is None or progress < end:
            continue  # run starts or ends still to take in
        if not _has_live_runs(db, key):
            empty.append(automation.id)
    return empty


@every(CHECK_INTERVAL)
async def remove_finished_automations() -> None:
    if not definitions.is_ready:
        return
    for automation_id in empty_finishing_automations():
        now = clock.now()
        # A refusal (already removed by another pass or an operator) is fine.
        await definitions_log.execute(settings, lc.FinishDeletion(automation_id=automation_id, now=now))
