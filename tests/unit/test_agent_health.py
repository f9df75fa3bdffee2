"""An agent that crashes is counted and keeps the worker unready for a while
(processors.agent_health): a worker whose agents crash over and over, restarted
by Faust each time, had said ready while it processed nothing."""

from __future__ import annotations

import asyncio

from processors import agent_health, metrics
from processors.app import app


def test_a_crash_is_counted_by_agent_and_the_worker_is_unready_for_a_minute(monkeypatch):
    monkeypatch.setattr(agent_health, "_last_crash", None)  # restored after the test
    assert not agent_health.crashed_recently(1_000.0)
    before = metrics.parse(metrics.render()).get(("automations_agent_crashes_total", (("agent", "learners"),)), 0)
    agent_health.crashed("learners", RuntimeError("PartitionsMismatch"), now=1_000.0)
    assert agent_health.crashed_recently(1_000.0 + agent_health.UNREADY_AFTER_CRASH_SECONDS - 1)
    assert not agent_health.crashed_recently(1_000.0 + agent_health.UNREADY_AFTER_CRASH_SECONDS)
    after = metrics.parse(metrics.render())[("automations_agent_crashes_total", (("agent", "learners"),))]
    assert after == before + 1


def test_faust_tells_the_app_of_an_agent_crash(monkeypatch):
    seen = []
    monkeypatch.setattr(agent_health, "crashed", lambda agent, error, now: seen.append((agent, type(error))))

    class Agent:
        name = "processors.learner_agent.learners"

    asyncio.run(app._on_agent_error(Agent(), KeyError("x")))
    assert seen == [("processors.learner_agent.learners", KeyError)]
