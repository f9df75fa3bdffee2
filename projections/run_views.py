"""The activity view of one run, and what a learner's missed entries say.

Owns `RunView` (a run's status, every step with its time and outcome, the
status history, which exit fired, the error of a failed run, the replays
linked to it, and the decision trace: the trigger trace at start plus every
exit check) and `NotStarted` (an entry that was skipped or declined, with the
reason: the "why didn't X get Y" half of a learner's history). Both render
to plain JSON-ready dicts; the fold that fills them is `projections.partition`.

The record's JSON columns (the decision traces, a step's detail) are kept as
the text the record carries and parsed when a view is rendered: parsed, they
were half the memory of the views (a trace's dicts and lists cost several times
its text), and a view is read far more rarely than a record is folded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FINISHED = frozenset({"fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled"})
REPLAYABLE = frozenset({"pending", "fulfilled", "failed"})


def iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def parse_json(text: str | None) -> Any:
    """A JSON column of the run-status record; text that is not JSON is kept as text."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class RunView:
    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int | None
    started_at: datetime
    trigger_id: str | None = None
    trigger_event_id: str | None = None
    replay_of: str | None = None
    status: str = "executing"
    ended_at: datetime | None = None
    reason: str | None = None
    error: str | None = None
    exit_id: str | None = None
    waiting_in: str | None = None
    replayed_by: list[str] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    exit_checks: list[dict] = field(default_factory=list)  # "trace_json": text, see the module's docstring
    trigger_trace_json: str | None = None
    # Whether the learner's state has let it go: the engine keeps the last
    # RECENT_FINISHED_KEPT finished runs of a learner and cannot replay an older one.
    forgotten: bool = False

    @property
    def learner(self) -> tuple[str, str]:
        return self.school, self.user

    @property
    def start_order(self) -> tuple[datetime, str]:
        """The order of runs lists (newest last): the partitions keep it, their merge reads it."""
        return self.started_at, self.run_id

    @property
    def replayable(self) -> bool:
        return self.status in REPLAYABLE and not self.forgotten

    def summary(self) -> dict:
        """One line of a runs list."""
        return {
            "run_id": self.run_id,
            "school": self.school,
            "user": self.user,
            "automation_id": self.automation_id,
            "automation_version": self.automation_version,
            "status": self.status,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "waiting_in": self.waiting_in,
            "trigger_id": self.trigger_id,
            "trigger_event_id": self.trigger_event_id,
            "replay_of": self.replay_of,
            "replayed_by": list(self.replayed_by),
            "exit_id": self.exit_id,
            "error": self.error,
            "reason": self.reason,
        }

    def activity(self) -> dict:
        """The run record an administrator troubleshoots with."""
        return {
            **self.summary(),
            "replayable": self.replayable,
            "steps": [_parsed(step, "detail_json", "detail") for step in self.steps],
            "history": [dict(change) for change in self.history],
            "trace": {
                "trigger": parse_json(self.trigger_trace_json),
                "exit_checks": [_parsed(check, "trace_json", "trace") for check in self.exit_checks],
            },
        }


def _parsed(row: dict, text_name: str, name: str) -> dict:
    """A copy of `row` with its JSON column `text_name` parsed, under `name`, in its place."""
    rendered = {}
    for key, value in row.items():
        if key == text_name:
            rendered[name] = parse_json(value)
        else:
            rendered[key] = value
    return rendered


@dataclass(frozen=True)
class NotStarted:
    """An entry that started no run: skipped (ruling 5), declined, or a loop stopped."""

    kind: str
    school: str
    user: str
    automation_id: str
    at: datetime
    event_id: str | None
    trigger_id: str | None
    reason: str | None
    trace_json: str | None = None

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "automation_id": self.automation_id,
            "at": iso(self.at),
            "event_id": self.event_id,
            "trigger_id": self.trigger_id,
            "reason": self.reason,
            "trace": parse_json(self.trace_json),
        }
