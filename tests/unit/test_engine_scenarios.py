"""Every YAML scenario under tests/unit/scenarios/engine: given / when / then against the guide."""

from __future__ import annotations

import pytest

from tests.unit.engine_scenarios import SCENARIOS, Scenario, load

FILES = sorted(SCENARIOS.glob("*.yaml"))


def test_there_are_scenarios():
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path):
    spec = load(path)
    problems = Scenario(spec).run()
    numbered = "\n".join(f"  {n}. {p}" for n, p in enumerate(problems, start=1))
    assert not problems, f"{spec['scenario']} ({spec.get('promise', '')}):\n{numbered}"
