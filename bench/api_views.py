"""The API server's views at scale: fold cost, memory per run and query latency.

Folds synthetic run-status records (the fields a worker writes, as decoded
dicts) into `projections.PartitionViews`, four partitions, and times the
queries the API answers. Two shapes that stress different things:

- `automation`: one automation every learner enters (an email, a 7-day wait,
  an email), nearly half the runs still waiting, with entries that started no
  run (declined, skipped) and exit checks in the shares `welcome_run` says,
  beside 999 one-step automations:
  the runs list, the automation's row and funnel, the waiting counts and the
  automations page, against the number of runs;
- `learner`: one learner with very many runs (and five declined entries per
  run): a busy learner's fold must not slow down with their history.

The fold freezes the views out of the cyclic collector's walks every 50,000
records, as the API server does (`--no-freeze`: as before it did). Times are
the best of three; memory is the growth of the process's resident
set over the fold (the records are made one run at a time and dropped, so
what stays is the views).

    python bench/api_views.py [--runs 100000 1000000] [--learner-runs 20000]

`--store sqlite|postgresql` measures the projections' store instead (the API
server's views since issue #15): the same runs, encoded as on the topic,
folded by `projections.projector.Projector` in batches of AUTOMATIONS_FOLD_BATCH
records a partition (the feeds' batch, 8,000 by default), against the in-memory fold of the same bytes
in the same run (the baseline); then, with a fresh process that opens the
store as a restarted API server does (migrate, read the offsets), the time
until it answers, its resident set, and p50/p99 of the runs list (limit 50),
an automation's row and funnel, and a learner's view. PostgreSQL is a
throwaway cluster (tests/postgres.py) unless `--url` names one.

    python bench/api_views.py --store sqlite --runs 100000
    python bench/api_views.py --store postgresql --runs 100000

At 1M and 10M runs (`--no-baseline`: the in-memory fold beside it would hold
~4.5 GB at 1M runs; `--copies`: fold `--runs` runs, then multiply those rows in
the database to each number of copies in turn, `bench/api_views_multiply.py`;
`--explain`: every question's plans on stderr):

    python bench/api_views.py --store sqlite --runs 1000000 --no-baseline
    python bench/api_views.py --store postgresql --runs 100000 --no-baseline --copies 10 100

A store built once and kept (`--build-only`: the fold and the copies, no reads;
stopped by SIGTERM or a disk about to keep less than `--keep-free-gb`, it still
ends with its indexes and statistics, and the same command grows it on later),
then read as often as wanted (`--read-only`, a fresh reader process each time;
`bench/api_restart.py --url` times the real API server's restart on it):

    python bench/api_views.py --store sqlite --url sqlite:////work/stores/sqlite/projections.sqlite3 \
        --runs 100000 --copies 100 --build-only
    python bench/api_views.py --store sqlite --url sqlite:////work/stores/sqlite/projections.sqlite3 --read-only --explain
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.definitions import Automation  # noqa: E402
from projections import queries  # noqa: E402
from projections.long_lived import Freezer  # noqa: E402
from projections.partition import PartitionViews  # noqa: E402

T0 = datetime(2027, 3, 1, tzinfo=timezone.utc)
PARTITIONS = 4
COLUMNS = ("automation_version", "run_id", "status", "step_id", "step_type", "outcome", "detail", "trigger_id",
           "trigger_event_id", "event_id", "matched", "exit_id", "error", "reason", "replay_of", "trace_json")
TRACE = '[{"trigger": "t0", "event": "user.registered", "fired": true, "match": "all", "result": true, "conditions": []}]'
DECLINED_TRACE = ('[{"trigger": "t1", "event": "user.tag_added", "fired": false, "match": "all", "result": false, '
                  '"conditions": [{"type": "has_tag", "tag": "student", "result": false}]}]')
EXIT_TRACE = '{"match": "all", "result": %s, "conditions": [{"type": "enrolled_in_course", "course": "intro", "result": %s}]}'
WELCOME = Automation.model_validate({
    "id": "welcome", "school": "s", "name": "Welcome", "status": "active",
    "triggers": [{"id": "t0", "event": "user.registered"},
                 {"id": "t1", "event": "user.tag_added", "tag": "onboarding",
                  "conditions": [{"type": "has_tag", "tag": "student"}]}],
    "flow": [{"id": "hello", "type": "send_email", "template": "h"},
             {"id": "pause", "type": "wait_duration", "amount": 7, "unit": "days"},
             {"id": "nudge", "type": "send_email", "template": "n"}],
    "exits": [{"id": "enrolled", "event": "course.enrolled", "filters": [{"type": "enrolled_in_course", "course": "intro"}]}],
})
OTHERS = [Automation.model_validate({
    "id": f"other-{n:03d}", "school": "s", "name": f"other {n}", "status": "active",
    "triggers": [{"id": "t0", "event": "user.registered"}], "flow": [{"id": "hello", "type": "send_email", "template": "h"}],
}) for n in range(999)]
PROGRESS_EVERY = 5.0
FREEZE = True  # --no-freeze: fold without moving the views out of the collector's walks


def record(kind: str, user: str, automation_id: str, seconds: float, **columns) -> dict:
    found = {"kind": kind, "school": "s", "user": user, "automation_id": automation_id, "at": T0 + timedelta(seconds=seconds)}
    found.update(dict.fromkeys(COLUMNS))
    found.update(columns)
    return found


# The shares of the entries that start no run and of the exit checks, by run number (the reader
# picks its learners and runs with them). The guide's sources of each: a tag trigger whose
# condition fails (declined, one learner in five), the same trigger again within 60 s of the
# start (skipped, one in ten), and the exit condition's event while the run waits (checked in
# three runs of ten, all of them waiting then: one in twenty runs exits, the others' filters
# do not hold).
def declines(n: int) -> bool:
    return n % 5 == 1


def skips(n: int) -> bool:
    return n % 10 == 3


def exits(n: int) -> bool:
    return n % 20 == 3


def exit_checked(n: int) -> bool:
    return n % 4 == 1 or exits(n)


def welcome_run(n: int) -> list[dict]:
    user, run_id = f"learner-{n}", f"run-{n}"
    records = [
        record("run_started", user, "welcome", n, run_id=run_id, trigger_event_id=f"e{n}", trigger_id="t0",
               automation_version=0, trace_json=TRACE),
        record("step_recorded", user, "welcome", n, run_id=run_id, step_id="hello", step_type="send_email", outcome="done",
               detail='{"idempotency_key": "%s:hello"}' % run_id),
        record("step_recorded", user, "welcome", n, run_id=run_id, step_id="pause", step_type="wait_duration",
               outcome="waiting", detail='{"until": "2027-03-08T00:00:00+00:00"}'),
        record("run_status_changed", user, "welcome", n, run_id=run_id, status="pending", step_id="pause"),
    ]
    if declines(n):
        records.append(record("entry_declined", user, "welcome", n + 0.25, trigger_event_id=f"d{n}", trigger_id="t1",
                              reason="conditions not met", trace_json=DECLINED_TRACE))
    if skips(n):
        records.append(record("run_skipped", user, "welcome", n + 0.5, trigger_event_id=f"k{n}", trigger_id="t1",
                              reason="a run of this automation started less than 60 s ago"))
    if exit_checked(n):  # odd runs: the ones still waiting
        matched = exits(n)
        records.append(record("exit_checked", user, "welcome", n + 0.75, run_id=run_id, exit_id="enrolled",
                              event_id=f"x{n}", matched=matched, trace_json=EXIT_TRACE % (("true",) * 2 if matched else ("false",) * 2)))
        if matched:
            records.append(record("run_status_changed", user, "welcome", n + 0.75, run_id=run_id, status="completed_via_exit",
                                  step_id="pause", exit_id="enrolled", reason="exit enrolled fired on course.enrolled"))
    if n % 2 == 0:  # half have waited and finished
        records += [
            record("run_status_changed", user, "welcome", n + 1, run_id=run_id, status="executing", step_id="pause"),
            record("step_recorded", user, "welcome", n + 1, run_id=run_id, step_id="pause", step_type="wait_duration", outcome="waited"),
            record("step_recorded", user, "welcome", n + 1, run_id=run_id, step_id="nudge", step_type="send_email", outcome="done"),
            record("run_status_changed", user, "welcome", n + 1, run_id=run_id, status="fulfilled"),
        ]
    return records


def best_ms(query, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        query()
        times.append(time.perf_counter() - began)
    return min(times) * 1000


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def fold(parts: list[PartitionViews], runs, label: str) -> tuple[int, float, float]:
    """Applies every run's records; returns records, fold seconds and bytes the views hold."""
    gc.collect()
    resident_before = resident_bytes()
    count, folding, report_at = 0, 0.0, time.perf_counter() + PROGRESS_EVERY
    freezer = Freezer() if FREEZE else None
    for part_index, records in runs:
        part = parts[part_index]
        began = time.perf_counter()
        for item in records:
            part.apply(item)
        if freezer is not None:
            freezer.folded(len(records))  # as the API server's views do
        folding += time.perf_counter() - began
        count += len(records)
        if time.perf_counter() > report_at:
            print(f"  {label}: {count:,} records folded", file=sys.stderr, flush=True)
            report_at += PROGRESS_EVERY
    return count, folding, resident_bytes() - resident_before


def one_automation(total: int) -> None:
    parts = [PartitionViews() for _ in range(PARTITIONS)]
    runs = ((zlib.crc32(f"learner-{n}".encode()) % PARTITIONS, welcome_run(n)) for n in range(total))
    count, folding, held = fold(parts, runs, f"{total:,} runs")
    print(f"automation, {total:,} runs ({total // 2:,} waiting): {count:,} records folded at {folding / count * 1e6:.1f} us each, "
          f"resident set +{held / total:,.0f} B per run")
    print(f"  runs limit=50 {best_ms(lambda: queries.runs_of_automation(parts, 's', 'welcome', limit=50)):.1f} ms; "
          f"status=pending limit=50 {best_ms(lambda: queries.runs_of_automation(parts, 's', 'welcome', status='pending', limit=50)):.1f} ms; "
          f"row + funnel {best_ms(lambda: (queries.automation_row(parts, WELCOME), queries.step_funnel(parts, 's', 'welcome', WELCOME))):.1f} ms; "
          f"waiting by step {best_ms(lambda: queries.waiting_by_step(parts, 's', 'welcome')):.1f} ms; "
          f"automations page (1,000) {best_ms(lambda: queries.automations_page(parts, [WELCOME, *OTHERS], 's')):.1f} ms", flush=True)
    full, frozen = best_ms(gc.collect, 1), best_ms(lambda: (gc.freeze(), gc.collect()), 1)
    gc.unfreeze()
    print(f"  a full collection of the cyclic garbage collector: {full:,.0f} ms; after gc.freeze(): {frozen:,.0f} ms", flush=True)


def busy_learner(total: int, declined_per_run: int) -> None:
    def runs():
        for n in range(total):
            automation_id = f"other-{n % 20:03d}"
            records = [record("entry_declined", "busy", automation_id, n, trigger_event_id=f"d{n}-{k}", trigger_id="t0",
                              reason="conditions not met") for k in range(declined_per_run)]
            records += [
                record("run_started", "busy", automation_id, n, run_id=f"run-{n}", trigger_event_id=f"e{n}", trigger_id="t0", automation_version=0),
                record("step_recorded", "busy", automation_id, n, run_id=f"run-{n}", step_id="hello", step_type="send_email", outcome="done"),
                record("run_status_changed", "busy", automation_id, n, run_id=f"run-{n}", status="fulfilled"),
            ]
            yield 0, records

    parts = [PartitionViews()]
    count, folding, _ = fold(parts, runs(), f"learner, {total:,} runs")
    print(f"learner with {total:,} runs, {declined_per_run} declined entries per run: {count:,} records folded in {folding:.2f} s "
          f"({folding / count * 1e6:.1f} us each); their history {best_ms(lambda: queries.learner_history(parts, 's', 'busy')):.1f} ms",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], help="measure the projections' store instead")
    parser.add_argument("--url", help="with --store: an existing, empty database (default: a fresh one)")
    parser.add_argument("--runs", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--learner-runs", type=int, default=20_000)
    parser.add_argument("--no-freeze", action="store_true", help="fold as before projections.long_lived")
    parser.add_argument("--no-baseline", action="store_true", help="with --store: no in-memory fold of the same bytes beside it")
    parser.add_argument("--copies", type=int, nargs="+", default=[],
                        help="with --store: multiply the folded runs in the database to each number of copies in turn")
    parser.add_argument("--schools", type=int, default=1, help="with --copies: copies spread over this many schools")
    parser.add_argument("--explain", action="store_true", help="with --store: print each question's query plans")
    parser.add_argument("--compare-fold", action="store_true",
                        help="with --copies: fold as many runs into a fresh store too, and compare answers and read times")
    parser.add_argument("--per-row-indexes", action="store_true",
                        help="with --copies: multiply as before the bulk build (every index kept up row by row): its baseline")
    parser.add_argument("--build-only", action="store_true",
                        help="with --store, --url and one --copies: build the store there and keep it, no reads "
                             "(a store this bench built before grows from the copies it holds)")
    parser.add_argument("--keep-free-gb", type=float, default=12.0,
                        help="with --build-only: stop copying before the disk would keep less than this")
    parser.add_argument("--read-only", action="store_true",
                        help="with --store and --url: only the reader, against a store --build-only kept")
    parser.add_argument("--asked", type=int, default=300, help="with --read-only: times each read is asked")
    args = parser.parse_args()
    if (args.build_only or args.read_only) and not (args.store and args.url):
        parser.error("--build-only and --read-only need --store and --url")
    if args.build_only:
        from bench.api_views_store import build_kept

        build_kept(args.store, args.url, args.runs[0], welcome_run, PARTITIONS, max(args.copies or [1]), args.schools,
                   args.keep_free_gb)
        return
    if args.read_only:
        from bench.api_views_store import read_kept

        read_kept(args.url, args.explain, args.asked)
        return
    global FREEZE
    FREEZE = not args.no_freeze
    if args.store:
        from bench.api_views_store import measure_store

        for total in args.runs:
            measure_store(args.store, args.url, total, welcome_run, PARTITIONS, sorted(args.copies), args.schools,
                          baseline=not args.no_baseline, explain=args.explain, compare=args.compare_fold,
                          bulk=not args.per_row_indexes)
        return
    for total in args.runs:
        one_automation(total)
    for declined in (0, 5):
        busy_learner(args.learner_runs, declined)


if __name__ == "__main__":
    main()
