"""Finishing deletes: remove an automation once its last learner has left.

Deleting with learners inside may choose `finishing` (ruling 10): no new
entries, runs continue, and the automation is removed once the last run ends.
This agent keeps, per automation, the set of live runs (keyed
`school:automation|run`, so a re-delivered record counts once) and their
number. A periodic check removes every finishing automation whose count this
worker holds and is zero, through the same lifecycle decider as the CLI.
Every record is counted, in order, even those Faust skips after a restart
(`processors.input_positions`): a start or an end missed would leave the count
off for good, and the automation never removed, or removed too early.
"""

from __future__ import annotations

from engine import lifecycle as lc
from processors import definitions_log
from processors.app import app, automation_runs_topic, clock, live_runs_table, settings
from processors.definitions_table import definitions
from processors.dead_letters import decode_or_dead_letter
from processors.input_positions import InputPositions
from processors.records import TERMINAL

CHECK_INTERVAL = 2.0


def _count_key(automation_key: bytes) -> bytes:
    return automation_key + b"|#"


# In the live-runs table, so a worker that rebuilds it from the changelog knows where it was.
positions = InputPositions(live_runs_table, settings, (settings.topics.automation_runs,))


@app.agent(automation_runs_topic, concurrency=1)
async def live_runs(stream):
    async for event in stream.events():
        # Records Faust skipped first (see processors.input_positions), then this one.
        for item in await positions.ahead_of(event.message) + [event]:
            sends = await _count(item)
            positions.handled(item.message, sends + live_runs_table.take_changelog_sends())


async def _count(event) -> list:
    """Apply one run start or end (a Faust event or a record read again); returns a dead letter's send."""
    sends: list = []
    record = await decode_or_dead_letter("run_status", event, sends)
    if record is not None:
        _apply(event.key, record)
    return sends


def _apply(automation_key: bytes, record: dict) -> None:
    member = automation_key + b"|" + record["run_id"].encode()
    count = int(live_runs_table.get(_count_key(automation_key)) or b"0")
    ended = record["kind"] == "run_status_changed" and record.get("status") in TERMINAL
    if ended and live_runs_table.get(member) is not None:
        live_runs_table.pop(member, None)
        live_runs_table[_count_key(automation_key)] = str(count - 1).encode()
    elif not ended and live_runs_table.get(member) is None:
        live_runs_table[member] = b"1"
        live_runs_table[_count_key(automation_key)] = str(count + 1).encode()


def empty_finishing_automations() -> list[str]:
    """Finishing automations whose live-run count is held here and is zero."""
    catalog = definitions.catalog
    empty = []
    for db in live_runs_table.data._dbs_for_actives():
        for automation in catalog.finishing():
            value = db.get(_count_key(f"{automation.school}:{automation.id}".encode()))
            if value is not None and int(value) <= 0:
                empty.append(automation.id)
    return empty


@app.timer(interval=CHECK_INTERVAL)
async def remove_finished_automations() -> None:
    if not definitions.is_ready:
        return
    for automation_id in empty_finishing_automations():
        now = clock.now()
        # A refusal (already removed by another pass or an operator) is fine.
        await definitions_log.execute(settings, lc.FinishDeletion(automation_id=automation_id, now=now))
