"""A learner's run of one automation: its statuses, the legal moves between them, its ids.

Owns the run record kept in learner state (`Run` while it is live, the
bounded `FinishedRun` summary afterwards), the transitions table
`(status, input) -> status` that every status change goes through (an illegal
move raises `IllegalTransition`, a programming error naming both), the
deterministic run ids and idempotency keys of ruling 15, and the Mermaid
rendering of the table that docs/run-statuses.md holds (a test keeps it current).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from engine.commands import Timer
from engine.values import Value

RunStatus = Literal[
    "pending",
    "executing",
    "fulfilled",
    "completed_via_exit",
    "failed",
    "failed_silently",
    "cancelled",
]
RunInput = Literal[
    "start", "wait", "resume", "finish", "exit", "fail", "fail_silently", "cancel"
]
NEW = "new"  # the status before a run exists: the only input it takes is "start"

TRANSITIONS: dict[tuple[str, str], RunStatus] = {
    (NEW, "start"): "executing",
    ("executing", "wait"): "pending",
    ("executing", "finish"): "fulfilled",
    ("executing", "fail"): "failed",
    ("executing", "fail_silently"): "failed_silently",
    ("pending", "resume"): "executing",
    ("pending", "exit"): "completed_via_exit",
    ("pending", "cancel"): "cancelled",
}
LIVE: frozenset[str] = frozenset({"pending", "executing"})
FINISHED: frozenset[str] = frozenset(
    {"fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled"}
)
REPLAYABLE: frozenset[str] = frozenset({"pending", "fulfilled", "failed"})
RECENT_FINISHED_KEPT = 50


class IllegalTransition(Exception):
    """The engine tried a move the table does not have: a bug, never bad input."""

    def __init__(self, status: str, run_input: str):
        super().__init__(f"a run in status {status!r} cannot take input {run_input!r}")
        self.status = status
        self.run_input = run_input


def transition(status: str, run_input: str) -> RunStatus:
    try:
        return TRANSITIONS[(status, run_input)]
    except KeyError:
        raise IllegalTransition(status, run_input) from None


class Run(Value, kw_only=True):
    """A live run. `position` is the step it waits in (ruling 11: it reads the
    current version of each step when it arrives); `followers` are the steps
    that came after that step when the run arrived, kept so it still knows
    where to go if an edit removes the step it waits in."""

    id: str
    automation_id: str
    automation_version: int
    status: RunStatus
    started_at: datetime
    trigger_id: str | None = None
    trigger_event_id: str | None = None
    replay_of: str | None = None
    position: str | None = None
    followers: tuple[str, ...] = ()
    timer: Timer | None = None


class FinishedRun(Value, kw_only=True):
    """What learner state keeps of a finished run: enough to show and replay it."""

    id: str
    automation_id: str
    status: RunStatus
    started_at: datetime
    ended_at: datetime
    trigger_id: str | None = None
    trigger_event_id: str | None = None
    replay_of: str | None = None
    reason: str | None = None
    error: str | None = None
    exit_id: str | None = None


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def run_id_for(automation_id: str, learner_key: str, trigger_event_id: str) -> str:
    """Ruling 15: reprocessing a partition gives the same run ids."""
    return "run-" + _digest(automation_id, learner_key, trigger_event_id)


def replay_run_id(old_run_id: str, command_id: str) -> str:
    return "run-" + _digest("replay", old_run_id, command_id)


def idempotency_key(run_id: str, step_id: str) -> str:
    """A step runs at most once per run, so run and step identify an action."""
    return f"{run_id}:{step_id}"


def wait_timer_id(run_id: str, step_id: str) -> str:
    return f"wait:{run_id}:{step_id}"


def inactivity_timer_id(school: str, user: str, days: int) -> str:
    """One inactivity timer per learner and `days` value serves every automation using it."""
    return f"inactive:{school}:{user}:{days}"


def render_diagram() -> str:
    """The transitions table as a Markdown page with a Mermaid state diagram."""
    lines = [
        "# Run statuses",
        "",
        "Generated from `engine.runs.TRANSITIONS` by `engine.runs.render_diagram()`;",
        "do not edit by hand (tests/unit/test_engine_runs.py says how to regenerate).",
        "",
        "```mermaid",
        "stateDiagram-v2",
    ]
    for (status, run_input), target in TRANSITIONS.items():
        source = "[*]" if status == NEW else status
        lines.append(f"    {source} --> {target}: {run_input}")
    for status in sorted(FINISHED):
        lines.append(f"    {status} --> [*]")
    lines += ["```", "", "| status | input | new status |", "|---|---|---|"]
    for (status, run_input), target in TRANSITIONS.items():
        lines.append(f"| {status} | {run_input} | {target} |")
    lines += [
        "",
        f"Replayable: {', '.join(sorted(REPLAYABLE))} (a replayed pending run is cancelled).",
        "",
    ]
    return "\n".join(lines)
