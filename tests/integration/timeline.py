"""Walking a live worker through a timeline of school events, the way `simulate` walks it.

`simulate` (engine.simulation) processes events in `occurred_at` order with
`now = occurred_at` and fires every timer at its due time, in due order, before
the next event. `Timeline.play` makes a live worker on Kafka do the same with
its controllable clock: it reads the delay topic to know the pending timers,
pins the clock at each due time in turn and waits for the learner processor's
acknowledgement (`op=fired`), and pins it at each event's `occurred_at` before
sending the event and waiting for its receipt. Runs, statuses and action keys
of both paths can then be compared one to one (`observed_live`, `simulated`,
`differences`).

What "waiting for" rests on: the worker sends an input's outputs in order, and
with one broker and aiokafka's one request in flight per broker they become
visible in that order, so once an input's last output (its receipt, or the
timer acknowledgement) is read, reading every topic up to its current end
shows all of that input's outputs. `settle` is the strict barrier for the end:
the worker's consumer group has committed every input, which Faust does only
after flushing the outputs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from engine.definitions import Automation
from engine.school_events import SchoolEvent
from engine.simulation import simulate
from processors.config import Settings
from processors.ingest import send_events
from schemas.codec import decode

STEP_TIMEOUT = 30.0
KINDS = {"actions": "action", "run_status": "run_status", "delays": "timer", "receipts": "receipt", "dead_letter": "dead_letter"}


def utc(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def action_label(action) -> str:
    """`type:target` of an action command, an engine model or a decoded record alike."""
    get = action.get if isinstance(action, dict) else (lambda name: getattr(action, name))
    target = next(
        (get(name) for name in ("template", "tag", "course", "program", "product", "field") if get(name) is not None),
        None,
    )
    return f"{get('type')}:{target}"


@dataclass(frozen=True)
class RunView:
    """A run as both paths can tell it: who, why, where it went, what it ended as, what it sent."""

    run_id: str
    automation_id: str
    user: str
    trigger_id: str | None
    trigger_event_id: str | None
    status: str
    exit_id: str | None
    error: str | None
    steps: tuple[str, ...]  # step_id:outcome, in order
    actions: tuple[str, ...]  # idempotency_key type:target @at, in order


@dataclass(frozen=True)
class Observed:
    """What a path did: its runs by id, and the entries it declined or skipped."""

    runs: dict[str, RunView]
    declined: tuple[tuple[str, str, str, str], ...]  # (user, automation, event id, reason)
    skipped: tuple[tuple[str, str, str], ...]  # (user, automation, event id)

    def of_automations(self, prefix: str) -> "Observed":
        """Only what concerns the automations whose ids start with `prefix` (one school's, say)."""
        return Observed(
            runs={run_id: run for run_id, run in self.runs.items() if run.automation_id.startswith(prefix)},
            declined=tuple(entry for entry in self.declined if entry[1].startswith(prefix)),
            skipped=tuple(entry for entry in self.skipped if entry[1].startswith(prefix)),
        )


def differences(live: Observed, simulation: Observed) -> list[str]:
    """Every run that differs between the two paths, then the declined and skipped entries."""
    problems = []
    for run_id in sorted(set(live.runs) | set(simulation.runs)):
        got, want = live.runs.get(run_id), simulation.runs.get(run_id)
        if got != want:
            problems.append(f"run {run_id}:\n    live:      {got}\n    simulated: {want}")
    if sorted(live.declined) != sorted(simulation.declined):
        problems.append(f"declined:\n    live:      {sorted(live.declined)}\n    simulated: {sorted(simulation.declined)}")
    if sorted(live.skipped) != sorted(simulation.skipped):
        problems.append(f"skipped:\n    live:      {sorted(live.skipped)}\n    simulated: {sorted(simulation.skipped)}")
    return problems


def simulated(automations: list[Automation], events: list[SchoolEvent], until: datetime) -> Observed:
    result = simulate(automations, events, until)
    runs = {}
    for report in result.runs:
        finished = report.status not in ("pending", "executing")
        runs[report.run_id] = RunView(
            run_id=report.run_id,
            automation_id=report.automation_id,
            user=report.user,
            trigger_id=report.trigger_id,
            trigger_event_id=report.trigger_event_id,
            status=report.status,
            exit_id=report.exit_id if finished else None,
            error=report.error if finished else None,
            steps=tuple(f"{h['step_id']}:{h['outcome']}" for h in report.history if h["kind"] == "step"),
            actions=tuple(f"{a.idempotency_key} {action_label(a)} @{utc(a.at)}" for a in report.actions),
        )
    return Observed(
        runs=runs,
        declined=tuple((d.user, d.automation_id, d.trigger_event_id, d.reason) for d in result.declined),
        skipped=tuple((s.user, s.automation_id, s.trigger_event_id) for s in result.skipped),
    )


def observed_live(run_status: list[dict], actions: list[dict]) -> Observed:
    """What the worker did, folded from the run-status and actions topics (duplicates included)."""
    runs: dict[str, dict] = {}
    declined, skipped = [], []
    for record in run_status:
        kind, run_id = record["kind"], record.get("run_id")
        if kind == "run_started":
            runs[run_id] = {
                "run_id": run_id,
                "automation_id": record["automation_id"],
                "user": record["user"],
                "trigger_id": record.get("trigger_id"),
                "trigger_event_id": record.get("trigger_event_id"),
                "status": "executing",
                "exit_id": None,
                "error": None,
                "steps": [],
                "actions": [],
            }
        elif kind == "step_recorded" and run_id in runs:
            runs[run_id]["steps"].append(f"{record['step_id']}:{record['outcome']}")
        elif kind == "run_status_changed" and run_id in runs:
            finished = record["status"] not in ("pending", "executing")
            runs[run_id].update(
                status=record["status"],
                exit_id=record.get("exit_id") if finished else None,
                error=record.get("error") if finished else None,
            )
        elif kind == "entry_declined":
            declined.append((record["user"], record["automation_id"], record["trigger_event_id"], record["reason"]))
        elif kind == "run_skipped":
            skipped.append((record["user"], record["automation_id"], record["trigger_event_id"]))
    for action in actions:
        if action["run_id"] in runs:
            runs[action["run_id"]]["actions"].append(
                f"{action['idempotency_key']} {action_label(action)} @{utc(action['at'])}"
            )
    views = {
        run_id: RunView(**{**run, "steps": tuple(run["steps"]), "actions": tuple(run["actions"])})
        for run_id, run in runs.items()
    }
    return Observed(runs=views, declined=tuple(declined), skipped=tuple(skipped))


class Timeline:
    """A live worker (or several of one group) stepped through time like the simulator.

    `pin(instant)` pins the clock of every running worker of the group.
    """

    def __init__(self, settings: Settings, pin: Callable[[datetime], None]):
        self.settings = settings
        self.pin = pin
        self.records: dict[str, list[dict]] = {name: [] for name in KINDS}
        self.pending: dict[str, dict] = {}  # timer id -> its current `scheduled` record
        self.receipts: set[tuple[str, str, str]] = set()
        self.timer_steps = 0
        self._names = {getattr(settings.topics, name): name for name in KINDS}
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []

    async def __aenter__(self) -> "Timeline":
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
            fetch_max_wait_ms=50,
            isolation_level="read_committed",
        )
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        self._tps = [
            TopicPartition(topic, partition)
            for topic in self._names
            for partition in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._consumer.stop()

    # ------------------------------------------------------------ reading

    def _take(self, topic: str, value: bytes) -> None:
        name = self._names[topic]
        record = decode(KINDS[name], value)
        self.records[name].append(record)
        if name == "delays":
            timer_id = record["timer_id"]
            if record["op"] == "scheduled":
                self.pending[timer_id] = record
            elif timer_id in self.pending and self.pending[timer_id]["due_at"] == record["due_at"]:
                del self.pending[timer_id]
        elif name == "receipts":
            self.receipts.add((record["school"], record["user"], record["event_id"]))

    async def poll(self, timeout_ms: int = 50) -> int:
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        count = 0
        for tp, messages in batch.items():
            for message in messages:
                self._take(tp.topic, message.value)
                count += 1
        return count

    async def catch_up(self) -> None:
        """Read every output topic up to the end offsets it has now."""
        ends = await self._consumer.end_offsets(self._tps)
        while True:
            behind = [tp for tp in self._tps if await self._consumer.position(tp) < ends[tp]]
            if not behind:
                return
            await self.poll(100)

    async def wait_until(self, done: Callable[[], bool], what: str, timeout: float = STEP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await self.poll()
        await self.catch_up()

    # ------------------------------------------------------------ driving

    def due_times(self) -> list[datetime]:
        return sorted({record["due_at"] for record in self.pending.values()})

    async def fire_timers(self, limit: datetime, inclusive: bool) -> None:
        """Fire every pending timer due before `limit` (or at it), one due time at a time."""
        while True:
            await self.catch_up()
            dues = self.due_times()
            if not dues or dues[0] > limit or (dues[0] == limit and not inclusive):
                return
            due = dues[0]
            self.pin(due)
            self.timer_steps += 1
            waiting = sorted(timer_id for timer_id, r in self.pending.items() if r["due_at"] == due)
            await self.wait_until(
                lambda: all(r["due_at"] > due for r in self.pending.values()),
                f"the timers due at {utc(due)} to fire and be acknowledged: {waiting}",
            )

    async def send(self, events: list[SchoolEvent]) -> None:
        """Pin the clock at the events' time, send them, and wait until each has its receipt."""
        at = events[0].occurred_at
        learners = {(e.school, e.user) for e in events}
        ties = [r for r in self.pending.values() if r["due_at"] == at and (r["school"], r["user"]) in learners]
        if ties:
            raise ValueError(f"a timer is due exactly when its learner's event occurs ({utc(at)}): {ties}; "
                             "the simulator handles the event first, a live worker races them; move the event")
        self.pin(at)
        await send_events(self.settings, events, want_receipts=True)
        wanted = {(e.school, e.user, e.id) for e in events}
        await self.wait_until(lambda: wanted <= self.receipts, f"receipts of {len(wanted)} event(s) at {utc(at)}")

    async def play(self, events: list[SchoolEvent], until: datetime) -> None:
        """Events in `occurred_at` order (ties in the order given), timers at their due times."""
        ordered = sorted(enumerate(events), key=lambda pair: (pair[1].occurred_at, pair[0]))
        groups: list[list[SchoolEvent]] = []
        for _, event in ordered:
            if groups and groups[-1][0].occurred_at == event.occurred_at:
                groups[-1].append(event)
            else:
                groups.append([event])
        for group in groups:
            if group[0].occurred_at > until:
                break
            await self.fire_timers(group[0].occurred_at, inclusive=False)
            await self.send(group)
        await self.fire_timers(until, inclusive=True)
        self.pin(until)
        await self.settle()

    async def settle(self, timeout: float = STEP_TIMEOUT) -> None:
        """Until the worker group has committed every input it has (so flushed every output)."""
        topics = self.settings.topics
        inputs = [topics.school_events, topics.control, topics.automation_runs, topics.definitions]
        # Every partition of each (the consumer knows the metadata of the topics it reads only,
        # and a topic left out here would be taken for done).
        tps = [
            TopicPartition(topic, partition)
            for topic in inputs
            for partition in range(1 if topic == topics.definitions else self.settings.partitions)
        ]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers)
        await admin.start()
        try:
            deadline = time.monotonic() + timeout
            while True:
                ends = await self._consumer.end_offsets(tps)
                committed = await admin.list_consumer_group_offsets(self.settings.app_id)
                behind = {
                    tp: (committed[tp].offset if tp in committed else 0, end)
                    for tp, end in ends.items()
                    if end > (committed[tp].offset if tp in committed else 0)
                }
                if not behind:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the worker did not commit its inputs within {timeout}s: {behind}")
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        await self.catch_up()

    def observed(self) -> Observed:
        return observed_live(self.records["run_status"], self.records["actions"])
