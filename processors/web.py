"""The worker's HTTP surface: readiness, metrics, and the test clock when enabled.

`GET /ready/` answers 200 once the worker has loaded the definitions and
holds partitions, and while no agent has crashed in the last minute; 503
otherwise; scripts and tests wait on it instead of sleeping. `GET /metrics/`
gives `processors.metrics`' counters and the gauges read here, in
Prometheus' text format. `/test/clock/` and
`/test/definitions/` exist only when the worker was started with
AUTOMATIONS_TEST_CLOCK=1 (see `processors.clock`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from faust.web import View

from processors import agent_health, metrics
from processors.app import app, clock
from processors.definitions_table import definitions


@app.page("/ready/")
class Ready(View):
    async def get(self, request):
        is_ready = _ready()
        body = {"ready": is_ready, "partitions": len(app.assignor.assigned_actives()), "now": clock.now().isoformat()}
        return self.json(body, status=200 if is_ready else 503)


def _ready() -> bool:
    return (definitions.is_ready and not app.rebalancing and bool(app.assignor.assigned_actives())
            and not agent_health.crashed_recently(time.monotonic()))


def gauges() -> list[tuple[str, dict[str, str], float]]:
    from processors import finishing_agent, learner_agent, timer_agent  # the agents import this app
    from processors.timer_firing import in_flight

    found = []
    for positions in (learner_agent.positions, timer_agent.positions, finishing_agent.positions):
        for tp in sorted(app.assignor.assigned_actives()):
            if tp.topic not in positions.topics:
                continue
            end, progress = app.consumer.highwater(tp), positions.progress(tp.topic, tp.partition)
            if end is not None:
                # Nothing processed here yet: all of it is still to do, as far as this process
                # knows (at most that: retention may have removed the partition's start).
                found.append(("automations_input_lag", {"topic": tp.topic, "partition": str(tp.partition)},
                              max(0, end - (progress or 0))))
    found.append(("automations_timers_in_flight", {}, len(in_flight)))
    found.append(("automations_definitions_loaded", {}, len(definitions.versions)))
    found.append(("automations_ready", {}, int(_ready())))
    return found


@app.page("/metrics/")
class Metrics(View):
    async def get(self, request):
        return self.text(metrics.render(gauges()), content_type="text/plain; version=0.0.4")


if clock.controllable:

    @app.page("/test/clock/")
    class TestClock(View):
        """POST {"advance_seconds": N} or {"pin": ISO-8601}; GET reads the clock."""

        async def get(self, request):
            return self.json({"now": clock.now().isoformat()})

        async def post(self, request):
            body = await request.json()
            try:
                if "pin" in body:
                    clock.pin(datetime.fromisoformat(body["pin"]))
                if "advance_seconds" in body:
                    clock.advance(timedelta(seconds=float(body["advance_seconds"])))
            except (TypeError, ValueError) as error:
                return self.json({"error": str(error)}, status=400)
            return self.json({"now": clock.now().isoformat()})

    @app.page("/test/definitions/")
    class TestDefinitions(View):
        """GET: the version of every automation this worker has loaded, so a test
        sends events only once the worker knows the definitions they should meet."""

        async def get(self, request):
            return self.json({"versions": definitions.versions})
