"""The fold of one run-status partition into every view the operators read.

Owns `PartitionViews.apply(record)`: a pure function of the run-status
records, in the order one partition holds them (a learner's records are all
in one partition, in order). It keeps the runs (`RunView`), their indexes by
automation and by learner, the entries that started no run, the
per-automation figures and the per-step funnel.

The fold is idempotent per record: a worker that re-sends the outputs of an
input after a crash, or during a reprocessing of school events, writes
byte-identical records again, and an identical record changes nothing (its
digest was seen). A skip recorded for an event that started a run of the same
automation (a reprocessed event within 60 s of a start) is not counted either.
And an input decided again after a crash lost its state (the same run ids and
decisions, a later `at`) changes nothing: a run records each step's outcome
once, an automation declines or skips one event once, an exit is checked
against one event once, a run takes a status once at a given wait (a run
that waits twice goes pending twice, at two waits; the record's `step_id`),
and a finished run's status never changes again.
So the views are the same whether built live, rebuilt from offset 0, or
folded in a test.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import sys
from typing import Callable

from engine.runs import RECENT_FINISHED_KEPT
from projections.automation_stats import AutomationStats
from projections.run_views import FINISHED, NotStarted, RunView
from projections.step_stats import StepStats

AutomationKey = tuple[str, str]  # (school, automation id)
LearnerKey = tuple[str, str]  # (school, user)
# Columns whose values repeat across records (a school, a learner, an automation, its
# steps): the views keep one string of each instead of one per record read.
_REPEATED = ("school", "user", "automation_id", "trigger_id", "step_id", "step_type", "outcome", "status", "exit_id")


def record_digest(record: dict) -> bytes:
    canonical = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


class PartitionViews:
    def __init__(self) -> None:
        self.runs: dict[str, RunView] = {}
        self.runs_of_automation: dict[AutomationKey, list[str]] = {}
        self.runs_of_learner: dict[LearnerKey, list[str]] = {}
        self.not_started: dict[LearnerKey, list[NotStarted]] = {}
        self.stats: dict[AutomationKey, AutomationStats] = {}
        self.steps: dict[AutomationKey, dict[str, StepStats]] = {}
        self.applied = 0
        self._seen: set[bytes] = set()
        self._started_by: set[tuple[str, str, str, str | None]] = set()  # automation key + user + event
        # Each learner's finished runs in the order they finished, trimmed now and then to the
        # last RECENT_FINISHED_KEPT (a list of shared ids: cheaper per learner than a deque).
        self._finished_order: dict[LearnerKey, list[str]] = {}
        self._reached: set[tuple[str, str]] = set()  # (run id, step id)
        # What one decision records once, whenever it is recorded (see the docstring).
        self._decided: set[tuple] = set()

    def apply(self, record: dict, encoded: bytes | None = None) -> bool:
        """Fold one decoded run-status record; False when it changed nothing (a duplicate).

        `encoded`: the record's bytes on the topic, when the caller has them. A re-sent
        record is byte-identical, so their digest is its identity, at a fraction of the
        cost of writing the decoded record out again (half the fold's time)."""
        digest = record_digest(record) if encoded is None else hashlib.blake2b(encoded, digest_size=16).digest()
        if digest in self._seen:
            return False
        self._seen.add(digest)
        applier = _APPLIERS.get(record["kind"])
        if applier is None:
            return False
        for name in _REPEATED:
            value = record.get(name)
            if value is not None:
                record[name] = sys.intern(value)
        applier(self, record)
        self.applied += 1
        return True

    # ------------------------------------------------------------ helpers

    def _stats(self, school: str, automation_id: str) -> AutomationStats:
        key = (school, automation_id)
        entry = self.stats.get(key)
        if entry is None:
            entry = self.stats[key] = AutomationStats(school, automation_id)
        return entry

    def _step(self, run: RunView, step_id: str) -> StepStats:
        steps = self.steps.setdefault((run.school, run.automation_id), {})
        entry = steps.get(step_id)
        if entry is None:
            entry = steps[step_id] = StepStats(step_id)
        return entry

    def _leave_wait(self, run: RunView, at) -> None:
        if run.waiting_in is not None:
            self._step(run, run.waiting_in).left(run.run_id, run.user, at)
            run.waiting_in = None

    def _first(self, *key) -> bool:
        """Whether this decision is new; a decision made again (the same key) is not."""
        if key in self._decided:
            return False
        self._decided.add(key)
        return True

    def _note(self, record: dict, kind: str, event_id: str | None) -> None:
        note = NotStarted(
            kind=kind,
            school=record["school"],
            user=record["user"],
            automation_id=record["automation_id"],
            at=record["at"],
            event_id=event_id,
            trigger_id=record.get("trigger_id"),
            reason=record.get("reason"),
            trace_json=record.get("trace_json"),
        )
        self.not_started.setdefault((note.school, note.user), []).append(note)

    def _start_order(self, run_id: str) -> tuple:
        return self.runs[run_id].start_order

    def _missed_entry(self, record: dict) -> bool:
        """Whether a skip or decline is a new missed entry: its event started no run of the
        automation (a reprocessing or a resend of an event that did is none), noted once."""
        entry = (record["school"], record["automation_id"], record["user"], record.get("trigger_event_id"))
        return entry not in self._started_by and self._first("entry", *entry)

    def _withdraw_note(self, run: RunView) -> None:
        """An event noted as skipped or declined for this automation started this run after
        all (decided again after a crash lost the learner's state): it is no missed entry."""
        if ("entry", run.school, run.automation_id, run.user, run.trigger_event_id) not in self._decided:
            return  # the common case, every start: nothing noted for this entry
        notes = self.not_started.get(run.learner, [])
        for index, note in enumerate(notes):
            if note.automation_id == run.automation_id and note.event_id == run.trigger_event_id and note.kind != "derived_event_stopped":
                del notes[index]
                stats = self._stats(run.school, run.automation_id)
                if note.kind == "skipped":
                    stats.skipped -= 1
                else:
                    stats.declined -= 1
                return

    def _finished(self, run: RunView) -> None:
        """Marks the run that falls out of the learner's last RECENT_FINISHED_KEPT finished
        runs, the ones the engine's state keeps (and can replay)."""
        order = self._finished_order.setdefault(run.learner, [])
        order.append(run.run_id)
        if len(order) > RECENT_FINISHED_KEPT:
            self.runs[order[-RECENT_FINISHED_KEPT - 1]].forgotten = True
            if len(order) >= 2 * RECENT_FINISHED_KEPT:
                del order[:-RECENT_FINISHED_KEPT]

    # ------------------------------------------------------------ appliers

    def _run_started(self, record: dict) -> None:
        run_id = record["run_id"]
        if not run_id or run_id in self.runs:
            return  # ruling 15: the same event again is the same run
        run = RunView(
            run_id=run_id,
            school=record["school"],
            user=record["user"],
            automation_id=record["automation_id"],
            automation_version=record.get("automation_version"),
            started_at=record["at"],
            trigger_id=record.get("trigger_id"),
            trigger_event_id=record.get("trigger_event_id"),
            replay_of=record.get("replay_of"),
            trigger_trace_json=record.get("trace_json"),
        )
        run.history.append({"status": "executing", "at": run.started_at.isoformat()})
        self.runs[run_id] = run
        # Kept in start order (newest last) for the runs list to merge the partitions' newest
        # first; starts come in that order but for a clock that differs across a failover.
        started = self.runs_of_automation.setdefault((run.school, run.automation_id), [])
        if started and self._start_order(started[-1]) > self._start_order(run_id):
            bisect.insort(started, run_id, key=self._start_order)
        else:
            started.append(run_id)
        self.runs_of_learner.setdefault(run.learner, []).append(run_id)
        self._started_by.add((run.school, run.automation_id, run.user, run.trigger_event_id))
        self._stats(run.school, run.automation_id).started(run.started_at, run.user)
        self._withdraw_note(run)
        original = self.runs.get(run.replay_of or "")
        if original is not None:
            original.replayed_by.append(run_id)

    def _run_skipped(self, record: dict) -> None:
        if not self._missed_entry(record):
            return
        self._stats(record["school"], record["automation_id"]).skipped += 1
        self._note(record, "skipped", record.get("trigger_event_id"))

    def _entry_declined(self, record: dict) -> None:
        if not self._missed_entry(record):
            return
        self._stats(record["school"], record["automation_id"]).declined += 1
        self._note(record, "declined", record.get("trigger_event_id"))

    def _derived_stopped(self, record: dict) -> None:
        if self._first("stopped", record["school"], record["user"], record.get("event_id")):
            self._note(record, "derived_event_stopped", record.get("event_id"))

    def _step_recorded(self, record: dict) -> None:
        run = self.runs.get(record.get("run_id") or "")
        step_id = record.get("step_id")
        if run is None or not step_id:
            return
        at, outcome = record["at"], record.get("outcome")
        if not self._first("step", run.run_id, step_id, outcome):
            return  # a run passes each step once; the same outcome again is the same decision
        run.steps.append(
            {
                "step_id": step_id,
                "step_type": record.get("step_type"),
                "outcome": outcome,
                "at": at.isoformat(),
                "detail_json": record.get("detail"),
            }
        )
        step = self._step(run, step_id)
        step.step_type = step.step_type or record.get("step_type")
        step.outcomes[outcome] += 1
        if (run.run_id, step_id) not in self._reached:
            self._reached.add((run.run_id, step_id))
            step.reached += 1
        if outcome == "waiting":
            self._leave_wait(run, at)
            run.waiting_in = step_id
            step.waits(run.run_id, run.user, at)
        elif run.waiting_in == step_id:
            self._leave_wait(run, at)

    def _exit_checked(self, record: dict) -> None:
        run = self.runs.get(record.get("run_id") or "")
        if run is None or not self._first("exit", run.run_id, record.get("exit_id"), record.get("event_id")):
            return
        run.exit_checks.append(
            {
                "exit_id": record.get("exit_id"),
                "event_id": record.get("event_id"),
                "matched": record.get("matched"),
                "at": record["at"].isoformat(),
                "trace_json": record.get("trace_json"),
            }
        )

    def _status_changed(self, record: dict) -> None:
        run = self.runs.get(record.get("run_id") or "")
        status = record.get("status")
        if run is None or not status or run.ended_at is not None:
            return  # a finished run never changes again (its input decided again says the same)
        if record.get("step_id") and not self._first("status", run.run_id, status, record["step_id"]):
            return  # the same move at the same wait: the same decision (workers before this field: not checked)
        at = record["at"]
        if status != "pending":
            self._leave_wait(run, at)
        self._stats(run.school, run.automation_id).moved(run.status, status, run.user)
        run.status = status
        change = {"status": status, "at": at.isoformat()}
        for name in ("reason", "error", "exit_id"):
            if record.get(name):
                change[name] = record[name]
                setattr(run, name, record[name])
        run.history.append(change)
        if status in FINISHED:
            run.ended_at = at
            self._finished(run)


# By kind, the functions, not bound methods held by each instance: those made every
# `PartitionViews` a reference cycle, which a rebuild's reset could not free once the
# views were frozen out of the cyclic collector (`projections.long_lived`).
_APPLIERS: dict[str, Callable[[PartitionViews, dict], None]] = {
    "run_started": PartitionViews._run_started,
    "run_skipped": PartitionViews._run_skipped,
    "entry_declined": PartitionViews._entry_declined,
    "step_recorded": PartitionViews._step_recorded,
    "exit_checked": PartitionViews._exit_checked,
    "run_status_changed": PartitionViews._status_changed,
    "derived_event_stopped": PartitionViews._derived_stopped,
}
