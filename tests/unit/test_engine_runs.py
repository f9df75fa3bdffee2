"""The run status table: legal moves, a typed error for illegal ones, the generated diagram, ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runs import (
    FINISHED,
    NEW,
    TRANSITIONS,
    IllegalTransition,
    idempotency_key,
    render_diagram,
    replay_run_id,
    run_id_for,
    transition,
)

DIAGRAM = Path(__file__).resolve().parents[2] / "docs" / "run-statuses.md"


def test_a_run_starts_executing_and_waits_as_pending():
    assert transition(NEW, "start") == "executing"
    assert transition("executing", "wait") == "pending"
    assert transition("pending", "resume") == "executing"


@pytest.mark.parametrize("status", sorted(FINISHED))
def test_finished_runs_take_no_input(status):
    for run_input in ("start", "wait", "resume", "finish", "exit", "fail", "cancel"):
        with pytest.raises(IllegalTransition) as raised:
            transition(status, run_input)
        assert status in str(raised.value) and run_input in str(raised.value)


def test_only_a_waiting_run_can_exit_or_be_cancelled():
    assert transition("pending", "exit") == "completed_via_exit"
    assert transition("pending", "cancel") == "cancelled"
    with pytest.raises(IllegalTransition):
        transition("executing", "exit")


def test_every_status_is_reachable():
    reached = set(TRANSITIONS.values())
    assert reached == {"pending", "executing"} | FINISHED


def test_the_diagram_in_docs_is_generated_from_the_table():
    # Regenerate with: python -c "from engine.runs import render_diagram; print(render_diagram(), end='')" > docs/run-statuses.md
    assert DIAGRAM.read_text() == render_diagram()


def test_ids_are_deterministic_and_distinct():
    first = run_id_for("a", "s:u", "e1")
    assert first == run_id_for("a", "s:u", "e1")
    assert len({first, run_id_for("a", "s:u", "e2"), run_id_for("b", "s:u", "e1"), run_id_for("a", "s:v", "e1")}) == 4
    assert replay_run_id(first, "c1") != replay_run_id(first, "c2")
    assert idempotency_key(first, "mail") == f"{first}:mail"
