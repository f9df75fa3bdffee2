"""The projections' tables: one schema for SQLite and PostgreSQL (SQLAlchemy Core).

Owns `metadata`, every table the projector writes and the API reads. Each row
carries the run-status partition (`part`) it was folded from: a partition is
rebuilt alone by deleting its rows (the tables the fold writes a row a record
or a run into have no index on `part`: a rebuild scans them, revision 0007), and the per-automation and per-step
figures are kept per partition and added up when read (a learner's runs all
live in one partition, so "each learner once" sums exactly), as the
in-memory fold did. Instants are microseconds since the epoch (UTC): exact,
cheap to index and compare on both backends; the analysts' views
(`projections.analyst_views`) show them as timestamps.

A change here is a new Alembic revision in `projections/migrations/versions`,
never an edit of a shipped one: an upgrade keeps the data.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

offsets = Table(
    "projector_offsets",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False),  # records that changed a view
    Column("undecodable", BigInteger, nullable=False),  # records no decoder could read: logged, counted, passed
)

# What the fold has seen once and must not count again, as 16-byte hashes: the
# decisions a learner's entries record once (projections.partition; a run's own are
# in its row, `runs.decided`; the records' digests in `fold_digests`).
fold_keys = Table(
    "fold_keys",
    metadata,
    Column("part", Integer, primary_key=True),
    Column("key", LargeBinary(16), primary_key=True),
    # Revision 0004 kept record digests here until this offset; 0006 moved them to
    # `fold_digests`. NULL on every row since.
    Column("until_offset", BigInteger),
)

# The records a partition folded lately (projections.record_digests): a batch's record
# keys, sorted, side by side in `record_keys` (16 bytes each), a row for each cluster of close
# instants (`first_ms`..`last_ms`); deleted once the partition's next offset reaches
# `until_offset` (a re-send comes soon after the original; later, the decisions it
# repeats refuse it).
fold_digests = Table(
    "fold_digests",
    metadata,
    Column("part", Integer, primary_key=True),
    Column("until_offset", BigInteger, primary_key=True),
    Column("first_ms", BigInteger, primary_key=True),
    Column("last_ms", BigInteger, nullable=False),
    Column("record_keys", LargeBinary, nullable=False),
)
Index("fold_digests_by_instant", fold_digests.c.part, fold_digests.c.last_ms)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("part", Integer, nullable=False),
    Column("school", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("automation_id", String(255), nullable=False),
    Column("automation_version", BigInteger),
    Column("started_us", BigInteger, nullable=False),
    Column("start_seq", BigInteger, nullable=False),  # fold order: a run's replays in the order they started
    Column("trigger_id", String(255)),
    Column("trigger_event_id", String(255)),
    Column("replay_of", String(255)),
    Column("status", String(32), nullable=False),
    Column("ended_us", BigInteger),
    Column("reason", Text),
    Column("error", Text),
    Column("exit_id", String(255)),
    Column("waiting_in", String(255)),
    Column("forgotten", Boolean, nullable=False),
    Column("trigger_trace_json", Text),
    Column("steps_count", Integer, nullable=False),
    Column("history_count", Integer, nullable=False),
    Column("exit_checks_count", Integer, nullable=False),
    # The decisions this run records once (projections.partition: a step's outcome, a step
    # reached, an exit checked, a status at a wait), one a line: read and written with the
    # row, no key rows of their own. NULL: folded before revision 0003, keys in fold_keys.
    Column("decided", Text),
)
Index("runs_by_automation", runs.c.school, runs.c.automation_id, runs.c.started_us, runs.c.run_id)
Index("runs_by_automation_status", runs.c.school, runs.c.automation_id, runs.c.status, runs.c.started_us, runs.c.run_id)
Index("runs_by_learner", runs.c.school, runs.c.user_id, runs.c.started_us)
# Only the runs that replay another (revision 0005): a run's replays are looked up by its id.
Index("runs_replays", runs.c.school, runs.c.replay_of, postgresql_where=runs.c.replay_of.isnot(None),
      sqlite_where=runs.c.replay_of.isnot(None))

run_steps = Table(
    "run_steps",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("part", Integer, nullable=False),
    Column("step_id", String(255), nullable=False),
    Column("step_type", String(255)),
    Column("outcome", String(255)),
    Column("at_us", BigInteger, nullable=False),
    Column("detail_json", Text),
)

run_history = Table(
    "run_history",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("part", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("reason", Text),
    Column("error", Text),
    Column("exit_id", String(255)),
)

exit_checks = Table(
    "exit_checks",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("part", Integer, nullable=False),
    Column("exit_id", String(255)),
    Column("event_id", String(255)),
    Column("matched", Boolean),
    Column("at_us", BigInteger, nullable=False),
    Column("trace_json", Text),
)

not_started = Table(
    "not_started",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("part", Integer, nullable=False),
    Column("school", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("automation_id", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("event_id", String(255)),
    Column("trigger_id", String(255)),
    Column("reason", Text),
    Column("trace_json", Text),
)
Index("not_started_by_learner", not_started.c.school, not_started.c.user_id)

# Each learner's last finished runs, oldest first (the engine replays only the last
# RECENT_FINISHED_KEPT): space-separated run ids.
learner_finished = Table(
    "learner_finished",
    metadata,
    Column("school", String(255), primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("part", Integer, nullable=False),
    Column("run_ids", Text, nullable=False),
)

automation_stats = Table(
    "automation_stats",
    metadata,
    Column("school", String(255), primary_key=True),
    Column("automation_id", String(255), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("times_executed", BigInteger, nullable=False),
    Column("skipped", BigInteger, nullable=False),
    Column("declined", BigInteger, nullable=False),
    Column("last_run_us", BigInteger),
    Column("learners_inside", BigInteger, nullable=False),
)
Index("automation_stats_by_part", automation_stats.c.part)

automation_status_counts = Table(
    "automation_status_counts",
    metadata,
    Column("school", String(255), primary_key=True),
    Column("automation_id", String(255), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("status", String(32), primary_key=True),
    Column("runs", BigInteger, nullable=False),
)
Index("automation_status_counts_by_part", automation_status_counts.c.part)

# A learner's runs pending or executing, per automation (learners inside: each once).
live_runs = Table(
    "live_runs",
    metadata,
    Column("school", String(255), primary_key=True),
    Column("automation_id", String(255), primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("part", Integer, nullable=False),
    Column("runs", Integer, nullable=False),
)
Index("live_runs_by_learner", live_runs.c.school, live_runs.c.user_id)

step_stats = Table(
    "step_stats",
    metadata,
    Column("school", String(255), primary_key=True),
    Column("automation_id", String(255), primary_key=True),
    Column("step_id", String(255), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("step_type", String(255)),
    Column("reached", BigInteger, nullable=False),
    Column("departures", BigInteger, nullable=False),
    Column("seconds_spent", Float, nullable=False),
    Column("longest_seconds", Float, nullable=False),
    Column("learners_waiting", BigInteger, nullable=False),
)
Index("step_stats_by_part", step_stats.c.part)

step_outcomes = Table(
    "step_outcomes",
    metadata,
    Column("school", String(255), primary_key=True),
    Column("automation_id", String(255), primary_key=True),
    Column("step_id", String(255), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("outcome", String(255), primary_key=True),
    Column("records", BigInteger, nullable=False),
)
Index("step_outcomes_by_part", step_outcomes.c.part)

# The runs waiting in a step now, since when.
step_waiting = Table(
    "step_waiting",
    metadata,
    Column("school", String(255), primary_key=True),
    Column("automation_id", String(255), primary_key=True),
    Column("step_id", String(255), primary_key=True),
    Column("run_id", String(255), primary_key=True),
    Column("part", Integer, nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("since_us", BigInteger, nullable=False),
)
Index("step_waiting_oldest", step_waiting.c.school, step_waiting.c.automation_id, step_waiting.c.step_id, step_waiting.c.part, step_waiting.c.since_us)
Index("step_waiting_by_learner", step_waiting.c.school, step_waiting.c.user_id)

# Every table holding a partition's rows, cleared when the partition is rebuilt.
PARTITIONED = (
    fold_keys, fold_digests, runs, run_steps, run_history, exit_checks, not_started, learner_finished,
    automation_stats, automation_status_counts, live_runs, step_stats, step_outcomes, step_waiting,
)
