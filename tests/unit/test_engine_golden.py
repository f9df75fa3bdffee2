"""Golden logs: a recorded engine event log folds to the recorded state, and the examples still decide it.

Appliers never change meaning once shipped (STYLE 6): if the first test fails,
an applier changed meaning; make it a new event type instead. If only the
second fails, the engine decides differently on the examples: check the diff,
then regenerate with `UPDATE_GOLDEN=1 python -m pytest tests/unit/test_engine_golden.py`.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from console.simulate import load_definitions, load_events
from engine.decider import evolve
from engine.events import event_from_json, event_to_json
from engine.learner import LearnerState
from engine.simulation import simulate
from engine.values import as_json, from_json

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "engine"
LEARNERS = ("demo-school:ada", "demo-school:grace")


def _examples_log() -> dict[str, list[str]]:
    result = simulate(
        load_definitions([ROOT / "examples" / "automations"]),
        load_events(ROOT / "examples" / "events.jsonl")[0],
        datetime(2027, 6, 1, tzinfo=timezone.utc),
    )
    return {key: [event_to_json(event).decode() for k, event in result.log if k == key] for key in LEARNERS}


def _files(key: str) -> tuple[Path, Path]:
    name = key.split(":")[1]
    return GOLDEN / f"{name}.log.jsonl", GOLDEN / f"{name}.state.json"


if os.environ.get("UPDATE_GOLDEN") == "1":
    for learner, lines in _examples_log().items():
        log_file, state_file = _files(learner)
        log_file.write_text("".join(line + "\n" for line in lines))
        state = LearnerState.new(*learner.split(":"))
        for line in lines:
            state = evolve(state, event_from_json(line))
        state_file.write_text(json.dumps(as_json(state), indent=1, sort_keys=True) + "\n")


def test_recorded_logs_fold_to_recorded_states():
    for learner in LEARNERS:
        log_file, state_file = _files(learner)
        state = LearnerState.new(*learner.split(":"))
        lines = log_file.read_text().splitlines()
        assert len(lines) > 10
        for line in lines:
            state = evolve(state, event_from_json(line))
        assert state == from_json(LearnerState, json.loads(state_file.read_text())), learner


def test_the_examples_still_decide_the_recorded_logs():
    for learner, lines in _examples_log().items():
        recorded = _files(learner)[0].read_text().splitlines()
        assert lines == recorded, f"{learner}: the engine now decides differently on the examples"
