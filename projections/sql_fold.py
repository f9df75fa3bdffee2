"""Folding a batch of one partition's run-status records into the database.

Owns `BatchFold`: the in-memory fold (`projections.partition.PartitionViews`,
whose appliers decide what every record means) run over only the state a
batch touches. The batch's runs, figures, waiting runs, learners' finished
runs and "seen once" keys are read in a few queries before the fold, and
what the fold changed is written back after it, in the caller's transaction
(with the partition's offset: `projections.store`). The appliers are the
in-memory fold's own, so the database holds exactly what that fold held: a
differential test compares them over scenario logs.

What is read is what the batch's records can touch: every record names its
school, learner and automation, so their figures, their waiting runs and
live runs are known before the fold. A key no prefetch foresaw is looked up
on its own (correct, only slower).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from engine.runs import RECENT_FINISHED_KEPT
from projections import schema as t
from projections.automation_stats import AutomationStats
from projections.partition import _APPLIERS, PartitionViews, record_digest
from projections.record_digests import RecordDigests, seen_key
from projections.run_views import NotStarted, RunView
from projections.step_stats import StepStats
from projections.upsert import delete_keys, insert, insert_rows, select_in, upsert, upsert_rows

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits


def to_us(instant: datetime | None) -> int | None:
    if instant is None:
        return None
    since = instant - EPOCH  # exact, and a third of the cost of `// timedelta(microseconds=1)`
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def iso_to_us(text: str) -> int:
    return to_us(datetime.fromisoformat(text))


def from_us(us: int | None) -> datetime | None:
    return None if us is None else EPOCH + timedelta(microseconds=us)


def chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


class KeyStore:
    """The partition's "seen once" keys: those in the database, and those this batch adds."""

    def __init__(self, conn: Connection, part: int) -> None:
        self.conn, self.part = conn, part
        self.present: set[bytes] = set()
        self.checked: set[bytes] = set()
        self.new: set[bytes] = set()

    def prefetch(self, keys: set[bytes]) -> None:
        rows = select_in(self.conn, "SELECT key FROM fold_keys WHERE part = {mark} AND", ["key"], keys, self.part)
        self.present.update(bytes(row[0]) for row in rows)
        self.checked |= keys

    def known(self, key: bytes) -> bool:
        if key in self.new or key in self.present:
            return True
        if key not in self.checked:
            self.prefetch({key})
            return key in self.present
        return False

    def add(self, key: bytes) -> None:
        if not self.known(key):
            self.new.add(key)

    def write(self) -> None:
        part = self.part
        insert_rows(self.conn, t.fold_keys, ("part", "key"), [(part, key) for key in self.new])


class KnownKeys:
    """A set of the in-memory fold's keys (tuples, or record digests) kept in a `KeyStore`."""

    def __init__(self, tag: bytes, store: KeyStore) -> None:
        self.tag, self.store = tag, store
        self._hashes: dict = {}  # the batch asks of each key twice: at prefetch, then in the fold

    def hashed(self, key) -> bytes:
        if isinstance(key, bytes):
            return key
        found = self._hashes.get(key)
        if found is None:
            found = self._hashes[key] = hashlib.blake2b(self.tag + repr(key).encode(), digest_size=16).digest()
        return found

    def __contains__(self, key) -> bool:
        return self.store.known(self.hashed(key))

    def add(self, key) -> None:
        self.store.add(self.hashed(key))


class RunDecisions(KnownKeys):
    """A set of the in-memory fold's keys of which some belong to one run (`run_key` gives
    its id and the key's text, or None): those are kept in the run's row (`runs.decided`),
    read and written with it, instead of a hashed key row each in `fold_keys`.

    A run folded before revision 0003 (`decided` NULL) keeps its keys in `fold_keys`."""

    def __init__(self, tag: bytes, store: KeyStore, run_key, run_decided: dict[str, set[str]],
                 legacy_runs: set[str]) -> None:
        super().__init__(tag, store)
        # The batch's containers, not the batch: a reference back to it made every batch's
        # whole state a reference cycle, left to the cyclic collector to find and free
        # (8.5 MB a batch of 8,000 records; bench/BENCHMARKS.md).
        self.run_key, self._run_decided_of, self._legacy_runs = run_key, run_decided, legacy_runs
        self._last_key, self._last_found = None, (None, None)

    def _of_run(self, key) -> tuple[set[str] | None, str | None]:
        if key == self._last_key:  # the fold asks whether a step was reached, then adds it
            return self._last_found
        self._last_key, self._last_found = key, self._find(key)
        return self._last_found

    def _find(self, key) -> tuple[set[str] | None, str | None]:
        found = self.run_key(key)
        if found is None:
            return None, None
        run_id, text = found
        if run_id in self._legacy_runs:
            return None, None
        # A run the batch loaded has its set; one it started has none yet.
        return self._run_decided_of.setdefault(run_id, set()), text

    def __contains__(self, key) -> bool:
        decided, text = self._of_run(key)
        return text in decided if decided is not None else super().__contains__(key)

    def first(self, key) -> bool:
        """Whether `key` is new, and it is known from now on (one lookup: `_first`'s two)."""
        decided, text = self._of_run(key)
        if decided is None:
            if super().__contains__(key):
                return False
            super().add(key)
            return True
        if text in decided:
            return False
        decided.add(text)
        return True

    def add(self, key) -> None:
        decided, text = self._of_run(key)
        if decided is not None:
            decided.add(text)
        else:
            super().add(key)


RUN_DECISIONS = frozenset({"step", "exit", "status"})  # `_decided` keys whose second element is a run id


def _run_decision(key: tuple) -> tuple[str, str] | None:
    return (key[1], repr((key[0], *key[2:]))) if key[0] in RUN_DECISIONS else None


def _run_reached(key: tuple) -> tuple[str, str]:
    return key[0], repr(("reached", key[1]))


class BatchFold(PartitionViews):
    def __init__(self, conn: Connection, part: int) -> None:
        super().__init__()
        self.conn, self.part = conn, part
        self.keys = KeyStore(conn, part)
        self.digests = RecordDigests(conn, part)  # the in-memory fold's `_seen`
        self._record_keys: list[bytes] = []  # the prefetched records' keys in `digests`, in order
        self._run_decided: dict[str, set[str]] = {}  # run id -> its decisions' texts (runs.decided)
        self._legacy_runs: set[str] = set()  # runs folded before runs.decided: their keys are in fold_keys
        self._decided = RunDecisions(b"decided", self.keys, _run_decision, self._run_decided, self._legacy_runs)
        self._started_by = KnownKeys(b"started", self.keys)
        self._reached = RunDecisions(b"reached", self.keys, _run_reached, self._run_decided, self._legacy_runs)
        self._loaded_runs: dict[str, tuple[int, int, int, int]] = {}  # run id -> its start_seq, counts of its lists
        self._stats_loaded: dict[tuple, AutomationStats] = {}
        self._stats_base: dict[tuple, tuple[int, int]] = {}  # key -> (stored learners inside, loaded learners)
        self._live_users: dict[tuple, set[str]] = {}
        self._steps_loaded: dict[tuple, StepStats] = {}
        self._steps_base: dict[tuple, tuple[int, int]] = {}
        self._waiting_loaded: dict[tuple, set[str]] = {}  # step key -> run ids waiting when loaded
        self._waiting_user: dict[str, str] = {}  # run id -> learner, of the waiting runs loaded
        self._finished_loaded: dict[tuple, list[str]] = {}
        self._forget: set[str] = set()
        self._new_notes: list[NotStarted] = []
        self._deleted_notes: list[int] = []

    # ------------------------------------------------------------ reading

    def fold(self, records: list[tuple[dict, bytes | None]]) -> None:
        """Reads what `records` touch, then applies them in order (`write` writes them)."""
        self.prefetch(records)
        known, add = self.digests.known, self.digests.add
        for (record, _), key in zip(records, self._record_keys):
            # `PartitionViews.apply`, with each record's key in `digests` made once (at
            # prefetch) and its values not interned: the batch's views live one batch.
            if key in known:  # its instant's rows were read at prefetch
                continue
            add(key)
            applier = _APPLIERS.get(record["kind"])
            if applier is not None:
                applier(self, record)
                self.applied += 1

    def prefetch(self, records: list[tuple[dict, bytes | None]]) -> None:
        run_ids: set[str] = set()
        automations: set[tuple[str, str]] = set()
        learners: set[tuple[str, str]] = set()
        blake2b = hashlib.blake2b
        self._record_keys = record_keys = [
            seen_key(record["at"], record_digest(record) if encoded is None else blake2b(encoded, digest_size=16).digest())
            for record, encoded in records
        ]
        self.digests.prefetch(record_keys)
        keys: set[bytes] = set()
        for record, _ in records:
            school, user, automation_id = record["school"], record["user"], record["automation_id"]
            automations.add((school, automation_id))
            learners.add((school, user))
            run_id = record.get("run_id")
            if run_id:
                run_ids.add(run_id)
            if record.get("replay_of"):
                run_ids.add(record["replay_of"])
        self._load_runs(run_ids)
        # Without runs folded before runs.decided, only a learner's entries have hashed keys.
        asked = records if self._legacy_runs else [(r, e) for r, e in records if r["kind"] in LEARNER_KINDS]
        for record, _ in asked:
            for known, key in _candidate_keys(record):
                keys_of = known(self)
                found = keys_of.run_key(key) if isinstance(keys_of, RunDecisions) else None
                if found is None or found[0] in self._legacy_runs:
                    keys.add(keys_of.hashed(key))
        self.keys.prefetch(keys)
        self._load_stats(automations, learners)
        self._load_steps(automations, learners)
        self._load_finished(learners)

    def _load_runs(self, run_ids: set[str]) -> None:
        for row in select_in(self.conn, "SELECT * FROM runs WHERE", ["run_id"], run_ids):
            self.runs[row.run_id] = run_of(row)
            if row.decided is None:
                self._legacy_runs.add(row.run_id)
            else:
                self._run_decided[row.run_id] = set(row.decided.split("\n")) if row.decided else set()
            self._loaded_runs[row.run_id] = (row.start_seq, row.steps_count, row.history_count, row.exit_checks_count)

    def _load_stats(self, automations: set, learners: set) -> None:
        stats_rows = select_in(self.conn, "SELECT * FROM automation_stats WHERE part = {mark} AND",
                               ["school", "automation_id"], automations, self.part)
        counts = select_in(self.conn, "SELECT * FROM automation_status_counts WHERE part = {mark} AND",
                           ["school", "automation_id"], automations, self.part)
        for row in stats_rows:
            key = (row.school, row.automation_id)
            stats = AutomationStats(row.school, row.automation_id, row.times_executed, row.skipped, row.declined)
            stats.last_run_at = from_us(row.last_run_us)
            self._stats_loaded[key] = stats
            self._stats_base[key] = (row.learners_inside, 0)
        for row in counts:
            self._stats_loaded[(row.school, row.automation_id)].by_status[row.status] = row.runs
        for row in select_in(self.conn, "SELECT * FROM live_runs WHERE", ["school", "user_id"], learners):
            stats = self._stats_loaded.get((row.school, row.automation_id))
            if stats is not None:
                stats.live_runs_of[row.user_id] = row.runs
        for key, stats in self._stats_loaded.items():
            self._stats_base[key] = (self._stats_base[key][0], len(stats.live_runs_of))
            self._live_users[key] = set(stats.live_runs_of)

    def _load_steps(self, automations: set, learners: set) -> None:
        steps = select_in(self.conn, "SELECT * FROM step_stats WHERE part = {mark} AND", ["school", "automation_id"], automations, self.part)
        outcomes = select_in(self.conn, "SELECT * FROM step_outcomes WHERE part = {mark} AND",
                             ["school", "automation_id"], automations, self.part)
        for row in steps:
            key = (row.school, row.automation_id, row.step_id)
            step = StepStats(row.step_id, row.step_type, row.reached)
            step.departures, step.seconds_spent, step.longest_seconds = row.departures, row.seconds_spent, row.longest_seconds
            self._steps_loaded[key] = step
            self._steps_base[key] = (row.learners_waiting, 0)
        for row in outcomes:
            self._steps_loaded[(row.school, row.automation_id, row.step_id)].outcomes[row.outcome] = row.records
        for row in select_in(self.conn, "SELECT * FROM step_waiting WHERE", ["school", "user_id"], learners):
            key = (row.school, row.automation_id, row.step_id)
            step = self._steps_loaded.get(key)
            if step is None or row.run_id in step.waiting:
                continue
            step.waiting[row.run_id] = from_us(row.since_us)
            self._waiting_user[row.run_id] = row.user_id
            step.waiting_runs_of[row.user_id] += 1
        for key, step in self._steps_loaded.items():
            self._steps_base[key] = (self._steps_base[key][0], len(step.waiting_runs_of))
            self._waiting_loaded[key] = set(step.waiting)

    def _load_finished(self, learners: set) -> None:
        for row in select_in(self.conn, "SELECT * FROM learner_finished WHERE", ["school", "user_id"], learners):
            self._finished_loaded[(row.school, row.user_id)] = row.run_ids.split(" ") if row.run_ids else []

    def apply(self, record: dict, encoded: bytes | None = None) -> bool:
        """One record no prefetch may have foreseen (`fold` applies a batch)."""
        digest = record_digest(record) if encoded is None else hashlib.blake2b(encoded, digest_size=16).digest()
        key = seen_key(record["at"], digest)
        if self.digests.seen(key):
            return False
        self.digests.add(key)
        applier = _APPLIERS.get(record["kind"])
        if applier is None:
            return False
        applier(self, record)
        self.applied += 1
        return True

    # ------------------------------------------------------------ the fold's state, from the database

    def _first(self, *key) -> bool:
        kind = key[0]
        if kind in RUN_DECISIONS and key[1] not in self._legacy_runs:
            # A run's own decision, in its row: `RunDecisions.first` without its calls (every
            # step, status and exit record asks one).
            decided = self._run_decided.get(key[1])
            if decided is None:
                decided = self._run_decided[key[1]] = set()
            text = repr((kind, *key[2:]))
            if text in decided:
                return False
            decided.add(text)
            return True
        return self._decided.first(key)

    def _stats(self, school: str, automation_id: str) -> AutomationStats:
        key = (school, automation_id)
        entry = self.stats.get(key)
        if entry is None:
            entry = self._stats_loaded.get(key) or AutomationStats(school, automation_id)
            self.stats[key] = entry
        return entry

    def _step(self, run: RunView, step_id: str) -> StepStats:
        steps = self.steps.setdefault((run.school, run.automation_id), {})
        entry = steps.get(step_id)
        if entry is None:
            entry = self._steps_loaded.get((run.school, run.automation_id, step_id)) or StepStats(step_id)
            steps[step_id] = entry
        return entry

    def _note(self, record: dict, kind: str, event_id: str | None) -> None:
        super()._note(record, kind, event_id)
        self._new_notes.append(self.not_started[(record["school"], record["user"])][-1])

    def _withdraw_note(self, run: RunView) -> None:
        if ("entry", run.school, run.automation_id, run.user, run.trigger_event_id) not in self._decided:
            return
        n = t.not_started.c
        rows = self.conn.execute(
            select(n.id, n.kind).where(
                n.school == run.school, n.user_id == run.user, n.automation_id == run.automation_id,
                n.event_id == run.trigger_event_id if run.trigger_event_id is not None else n.event_id.is_(None),
                n.kind != "derived_event_stopped",
            ).order_by(n.id)
        ).all()
        rows = [row for row in rows if row.id not in self._deleted_notes]
        if rows:
            self._deleted_notes.append(rows[0].id)
            kind = rows[0].kind
        else:
            notes = self.not_started.get(run.learner, [])
            for index, note in enumerate(notes):
                if note.automation_id == run.automation_id and note.event_id == run.trigger_event_id and note.kind != "derived_event_stopped":
                    del notes[index]
                    self._new_notes.remove(note)
                    kind = note.kind
                    break
            else:
                return
        stats = self._stats(run.school, run.automation_id)
        if kind == "skipped":
            stats.skipped -= 1
        else:
            stats.declined -= 1

    def _finished(self, run: RunView) -> None:
        order = self._finished_order.get(run.learner)
        if order is None:
            order = self._finished_order[run.learner] = list(self._finished_loaded.get(run.learner, ()))
        order.append(run.run_id)
        if len(order) > RECENT_FINISHED_KEPT:
            dropped = order[-RECENT_FINISHED_KEPT - 1]
            if dropped in self.runs:
                self.runs[dropped].forgotten = True
            else:
                self._forget.add(dropped)
            if len(order) >= 2 * RECENT_FINISHED_KEPT:
                del order[:-RECENT_FINISHED_KEPT]

    # ------------------------------------------------------------ writing

    def write(self, first_seq: int, digests_until: int) -> None:
        """What the batch changed, in the caller's transaction; `first_seq`: the batch's
        first offset (runs started in it are numbered from there, in fold order);
        `digests_until`: the offset at which its records' digests expire."""
        conn, part = self.conn, self.part
        self.keys.write()
        self.digests.write(digests_until)
        self._write_runs(first_seq)
        if self._forget:
            for chunk in chunks(self._forget):
                conn.execute(update(t.runs).where(t.runs.c.run_id.in_(chunk)).values(forgotten=True))
        if self._deleted_notes:
            conn.execute(delete(t.not_started).where(t.not_started.c.id.in_(self._deleted_notes)))
        if self._new_notes:
            insert(conn, t.not_started, [_note_row(note, part) for note in self._new_notes])
        new_finished, loaded_finished = [], []
        for learner, order in self._finished_order.items():
            (loaded_finished if learner in self._finished_loaded else new_finished).append((*learner, part, " ".join(order)))
        insert_rows(conn, t.learner_finished, FINISHED_COLUMNS, new_finished)
        upsert_rows(conn, t.learner_finished, FINISHED_COLUMNS, loaded_finished)
        self._write_stats()
        self._write_steps()

    def _write_runs(self, first_seq: int) -> None:
        """The batch's runs as rows: inserted when the batch started them, written over
        when it loaded them; their new steps, history and exit checks, numbered on."""
        part, legacy, decided_of = self.part, self._legacy_runs, self._run_decided
        new_rows, loaded_rows, steps, history, checks = [], [], [], [], []
        micros: dict[str, int] = {}  # an instant's text -> microseconds: a record's step and status share theirs

        def us_of(text: str) -> int:
            found = micros.get(text)
            if found is None:
                found = micros[text] = iso_to_us(text)
            return found

        new = 0
        for run in self.runs.values():
            run_id = run.run_id
            loaded = self._loaded_runs.get(run_id)
            if loaded is None:
                start_seq, steps_base, history_base, checks_base = first_seq + new, 0, 0, 0
                new += 1
                rows = new_rows
            else:
                start_seq, steps_base, history_base, checks_base = loaded
                rows = loaded_rows
            seq = steps_base
            for step in run.steps:
                steps.append((run_id, seq, part, step["step_id"], step["step_type"], step["outcome"], us_of(step["at"]),
                              step["detail_json"]))
                seq += 1
            seq = history_base
            for change in run.history:
                history.append((run_id, seq, part, change["status"], us_of(change["at"]), change.get("reason"),
                                change.get("error"), change.get("exit_id")))
                seq += 1
            seq = checks_base
            for check in run.exit_checks:
                checks.append((run_id, seq, part, check["exit_id"], check["event_id"], check["matched"], us_of(check["at"]),
                               check["trace_json"]))
                seq += 1
            rows.append((
                run_id, part, run.school, run.user, run.automation_id, run.automation_version, to_us(run.started_at),
                run.trigger_id, run.trigger_event_id, run.replay_of, run.status, to_us(run.ended_at), run.reason,
                run.error, run.exit_id, run.waiting_in, run.forgotten, run.trigger_trace_json,
                steps_base + len(run.steps), history_base + len(run.history), checks_base + len(run.exit_checks),
                start_seq, None if run_id in legacy else "\n".join(decided_of.get(run_id, ())),
            ))
        insert_rows(self.conn, t.runs, RUN_COLUMNS, new_rows)
        upsert_rows(self.conn, t.runs, RUN_COLUMNS, loaded_rows)
        insert_rows(self.conn, t.run_steps, STEP_COLUMNS, steps)
        insert_rows(self.conn, t.run_history, HISTORY_COLUMNS, history)
        insert_rows(self.conn, t.exit_checks, CHECK_COLUMNS, checks)

    def _write_stats(self) -> None:
        part = self.part
        stats_rows, status_rows, new_live, loaded_live, gone = [], [], [], [], []
        for key, stats in self.stats.items():
            school, automation_id = key
            stored, loaded = self._stats_base.get(key, (0, 0))
            stats_rows.append({
                "school": school, "automation_id": automation_id, "part": part, "times_executed": stats.times_executed,
                "skipped": stats.skipped, "declined": stats.declined, "last_run_us": to_us(stats.last_run_at),
                "learners_inside": stored + len(stats.live_runs_of) - loaded,
            })
            status_rows += [{"school": school, "automation_id": automation_id, "part": part, "status": status, "runs": runs}
                            for status, runs in stats.by_status.items()]
            had = self._live_users.get(key, ())
            for user, runs in stats.live_runs_of.items():
                (loaded_live if user in had else new_live).append((school, automation_id, user, part, runs))
            gone += [(school, automation_id, user) for user in had if user not in stats.live_runs_of]
        if stats_rows:
            upsert(self.conn, t.automation_stats, stats_rows)
        if status_rows:
            upsert(self.conn, t.automation_status_counts, status_rows)
        delete_keys(self.conn, t.live_runs, ("school", "automation_id", "user_id"), gone)
        insert_rows(self.conn, t.live_runs, LIVE_COLUMNS, new_live)
        upsert_rows(self.conn, t.live_runs, LIVE_COLUMNS, loaded_live)

    def _write_steps(self) -> None:
        part = self.part
        step_rows, outcome_rows, new_waiting, loaded_waiting, gone = [], [], [], [], []
        for (school, automation_id), steps in self.steps.items():
            for step_id, step in steps.items():
                key = (school, automation_id, step_id)
                stored, loaded = self._steps_base.get(key, (0, 0))
                step_rows.append({
                    "school": school, "automation_id": automation_id, "step_id": step_id, "part": part,
                    "step_type": step.step_type, "reached": step.reached, "departures": step.departures,
                    "seconds_spent": step.seconds_spent, "longest_seconds": step.longest_seconds,
                    "learners_waiting": stored + len(step.waiting_runs_of) - loaded,
                })
                outcome_rows += [{"school": school, "automation_id": automation_id, "step_id": step_id, "part": part,
                                  "outcome": outcome, "records": records} for outcome, records in step.outcomes.items()]
                users = self._waiting_users(step)
                had = self._waiting_loaded.get(key, ())
                for run_id, since in step.waiting.items():
                    (loaded_waiting if run_id in had else new_waiting).append(
                        (school, automation_id, step_id, run_id, part, users[run_id], to_us(since)))
                gone += [(school, automation_id, step_id, run_id) for run_id in had if run_id not in step.waiting]
        if step_rows:
            upsert(self.conn, t.step_stats, step_rows)
        if outcome_rows:
            upsert(self.conn, t.step_outcomes, outcome_rows)
        delete_keys(self.conn, t.step_waiting, ("school", "automation_id", "step_id", "run_id"), gone)
        insert_rows(self.conn, t.step_waiting, WAITING_COLUMNS, new_waiting)
        upsert_rows(self.conn, t.step_waiting, WAITING_COLUMNS, loaded_waiting)

    def _waiting_users(self, step: StepStats) -> dict[str, str]:
        """Run id -> learner of the runs waiting in `step` (the fold keeps the learner per run)."""
        users = {}
        for run_id in step.waiting:
            run = self.runs.get(run_id)
            users[run_id] = run.user if run is not None else self._waiting_user[run_id]
        return users


RUN_COLUMNS = (
    "run_id", "part", "school", "user_id", "automation_id", "automation_version", "started_us", "trigger_id",
    "trigger_event_id", "replay_of", "status", "ended_us", "reason", "error", "exit_id", "waiting_in", "forgotten",
    "trigger_trace_json", "steps_count", "history_count", "exit_checks_count", "start_seq", "decided",
)
STEP_COLUMNS = ("run_id", "seq", "part", "step_id", "step_type", "outcome", "at_us", "detail_json")
HISTORY_COLUMNS = ("run_id", "seq", "part", "status", "at_us", "reason", "error", "exit_id")
CHECK_COLUMNS = ("run_id", "seq", "part", "exit_id", "event_id", "matched", "at_us", "trace_json")
LIVE_COLUMNS = ("school", "automation_id", "user_id", "part", "runs")
WAITING_COLUMNS = ("school", "automation_id", "step_id", "run_id", "part", "user_id", "since_us")
FINISHED_COLUMNS = ("school", "user_id", "part", "run_ids")
LEARNER_KINDS = frozenset({"run_started", "run_skipped", "entry_declined", "derived_event_stopped"})  # keys not of a run


def _candidate_keys(record: dict):
    """The (key set, key) pairs the appliers will ask about for this record (partition.py)."""
    kind = record["kind"]
    school, user, automation_id = record["school"], record["user"], record["automation_id"]
    run_id = record.get("run_id")
    if kind in ("run_started", "run_skipped", "entry_declined"):
        entry = (school, automation_id, user, record.get("trigger_event_id"))
        yield _started, entry
        yield _decided, ("entry", *entry)
    elif kind == "derived_event_stopped":
        yield _decided, ("stopped", school, user, record.get("event_id"))
    elif kind == "step_recorded":
        yield _decided, ("step", run_id, record.get("step_id"), record.get("outcome"))
        yield _reached, (run_id, record.get("step_id"))
    elif kind == "exit_checked":
        yield _decided, ("exit", run_id, record.get("exit_id"), record.get("event_id"))
    elif kind == "run_status_changed":
        yield _decided, ("status", run_id, record.get("status"), record.get("step_id"))


def _started(fold: BatchFold) -> KnownKeys:
    return fold._started_by


def _decided(fold: BatchFold) -> KnownKeys:
    return fold._decided


def _reached(fold: BatchFold) -> KnownKeys:
    return fold._reached


def _note_row(note: NotStarted, part: int) -> dict:
    return {"part": part, "school": note.school, "user_id": note.user, "automation_id": note.automation_id, "kind": note.kind,
            "at_us": to_us(note.at), "event_id": note.event_id, "trigger_id": note.trigger_id, "reason": note.reason,
            "trace_json": note.trace_json}


def run_of(row) -> RunView:
    """A run's row as the fold's `RunView`, its lists empty (the fold appends; `write` numbers them on)."""
    return RunView(
        run_id=row.run_id, school=row.school, user=row.user_id, automation_id=row.automation_id,
        automation_version=row.automation_version, started_at=from_us(row.started_us), trigger_id=row.trigger_id,
        trigger_event_id=row.trigger_event_id, replay_of=row.replay_of, status=row.status,
        ended_at=from_us(row.ended_us), reason=row.reason, error=row.error, exit_id=row.exit_id,
        waiting_in=row.waiting_in, trigger_trace_json=row.trigger_trace_json, forgotten=bool(row.forgotten),
    )
