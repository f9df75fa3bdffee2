"""Reading the views: the answers the HTTP API and the CLI give.

Owns the questions asked of the partitions' folds (`PartitionViews`), each
answered as plain JSON-ready data and always for one school: the automations
page (joined with the definitions: name, status, groups, last edited),
runs of an automation, one run's activity, a learner's runs and missed
entries, the step funnel, and `snapshot`, everything at once in a stable
order (what a rebuild must reproduce exactly).
"""

from __future__ import annotations

import heapq
import itertools
from operator import attrgetter
from typing import Iterable, Sequence

from engine.definitions import Automation, is_wait, iter_steps
from projections import automation_stats, step_stats
from projections.partition import PartitionViews
from projections.run_views import RunView, iso

Parts = Sequence[PartitionViews]


def stats_of(parts: Parts, school: str, automation_id: str) -> automation_stats.AutomationStats:
    key = (school, automation_id)
    return automation_stats.merge(school, automation_id, (p.stats[key] for p in parts if key in p.stats))


def automations_page(
    parts: Parts,
    automations: Iterable[Automation],
    school: str,
    search: str | None = None,
    status: str | None = None,
    group: str | None = None,
) -> list[dict]:
    """The school's automations with their figures; `search` matches name or id, any case."""
    return [automation_row(parts, automation) for automation in page_automations(automations, school, search, status, group)]


def automation_row(parts: Parts, automation: Automation) -> dict:
    return row_of(automation, stats_of(parts, automation.school, automation.id))


def page_automations(
    automations: Iterable[Automation], school: str, search: str | None, status: str | None, group: str | None
) -> list[Automation]:
    """The automations page's rows before their figures, in its order (both stores ask this)."""
    rows = []
    for automation in sorted(automations, key=lambda a: (a.name.lower(), a.id)):
        if automation.school != school:
            continue
        if search and search.lower() not in f"{automation.name}\n{automation.id}".lower():
            continue
        if (status and automation.status != status) or (group and group not in automation.groups):
            continue
        rows.append(automation)
    return rows


def row_of(automation: Automation, stats: automation_stats.AutomationStats) -> dict:
    """One automations-page row: the definition's fields and its figures (both stores render this)."""
    return {
        "id": automation.id,
        "name": automation.name,
        "status": automation.status,
        "groups": list(automation.groups),
        "mode": automation.mode,
        "version": automation.version,
        "last_edited_at": iso(automation.last_edited_at),
        "activated_at": iso(automation.activated_at),
        **stats.as_dict(),
    }


def runs_of_automation(
    parts: Parts, school: str, automation_id: str, status: str | None = None, limit: int | None = None
) -> list[dict]:
    """Newest first; `status` keeps the runs whose current status it is.

    Each partition keeps an automation's runs in start order, so their newest-first
    merge stops at `limit` instead of sorting every run the automation ever had."""
    key = (school, automation_id)
    newest_first = [_newest_first(part, part.runs_of_automation[key]) for part in parts if key in part.runs_of_automation]
    merged = heapq.merge(*newest_first, key=attrgetter("start_order"), reverse=True)
    chosen = (run for run in merged if status is None or run.status == status)
    return [run.summary() for run in itertools.islice(chosen, limit)]


def _newest_first(part: PartitionViews, run_ids: list[str]) -> Iterable[RunView]:
    runs = part.runs
    return (runs[run_id] for run_id in reversed(run_ids))


def find_run(parts: Parts, run_id: str, school: str | None = None) -> RunView | None:
    """The run, or None; with `school`, a run of another school is None too."""
    for part in parts:
        run = part.runs.get(run_id)
        if run is not None:
            return run if school is None or run.school == school else None
    return None


def learner_history(parts: Parts, school: str, user: str) -> dict:
    """Why did or didn't this learner get it: every run, and every entry that started none."""
    key = (school, user)
    runs = [part.runs[run_id] for part in parts for run_id in part.runs_of_learner.get(key, ())]
    notes = [note for part in parts for note in part.not_started.get(key, ())]
    return {
        "school": school,
        "user": user,
        "runs": [run.summary() for run in sorted(runs, key=lambda r: (r.started_at, r.run_id))],
        "not_started": [note.as_dict() for note in sorted(notes, key=lambda n: (n.at, n.automation_id, n.kind))],
    }


def step_funnel(parts: Parts, school: str, automation_id: str, automation: Automation | None) -> list[dict]:
    """Every step in flow order (then steps an edit removed), with its figures."""
    key = (school, automation_id)
    seen: dict[str, list[step_stats.StepStats]] = {}
    for part in parts:
        for step_id, figures in part.steps.get(key, {}).items():
            seen.setdefault(step_id, []).append(figures)
    rows = []
    in_flow = [step for _, step in iter_steps(automation.flow)] if automation is not None else []
    for step in in_flow:
        figures = step_stats.merge(step.id, seen.pop(step.id, []))
        figures.step_type = step.type
        rows.append({**figures.as_dict(), "in_flow": True, "is_wait": is_wait(step)})
    for step_id in sorted(seen):
        rows.append({**step_stats.merge(step_id, seen[step_id]).as_dict(), "in_flow": False, "is_wait": None})
    return rows


def waiting_by_step(parts: Parts, school: str, automation_id: str) -> dict[str, int]:
    """Learners waiting in each wait step (each once; a learner's runs are all in one partition)."""
    counts: dict[str, int] = {}
    for part in parts:
        for step_id, figures in part.steps.get((school, automation_id), {}).items():
            if figures.waiting:
                counts[step_id] = counts.get(step_id, 0) + figures.learners_waiting
    return dict(sorted(counts.items()))


def snapshot(parts: Parts) -> dict:
    """Every view of every school in a stable order: equal folds give equal snapshots."""
    automation_keys = sorted({key for part in parts for key in part.stats} | {k for p in parts for k in p.steps})
    learner_keys = sorted({key for p in parts for key in p.runs_of_learner} | {k for p in parts for k in p.not_started})
    runs = sorted((run for part in parts for run in part.runs.values()), key=lambda r: r.run_id)
    return {
        "automations": {
            f"{school}/{automation_id}": {
                "stats": stats_of(parts, school, automation_id).as_dict(),
                "steps": step_funnel(parts, school, automation_id, None),
            }
            for school, automation_id in automation_keys
        },
        "learners": {f"{school}/{user}": learner_history(parts, school, user) for school, user in learner_keys},
        "runs": {run.run_id: run.activity() for run in runs},
    }
