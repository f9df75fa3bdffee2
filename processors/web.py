"""The worker's HTTP surface: readiness, metrics, and the test clock when enabled.

`GET /ready/` answers 200 once the worker has loaded the definitions, its
stream task holds partitions and has restored their stores, reaches Kafka,
has registered its schemas when a Schema Registry is configured, and has not
failed in the last minute; 503 otherwise, saying why; scripts and
tests wait on it instead of sleeping. `GET /metrics/` gives
`processors.metrics`' counters and histograms and the gauges read here, in
Prometheus' text format. `/test/clock/` and `/test/definitions/` exist only
when the worker was started with AUTOMATIONS_TEST_CLOCK=1 (see
`processors.clock`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from faust.web import View

from processors import agent_health, metrics, schema_registry
from processors.app import app, clock
from processors.definitions_table import definitions
from processors.stream_host import host

# How long Kafka may stay out of reach before the worker says it is not ready.
UNREACHABLE_AFTER_SECONDS = 5.0


@app.page("/ready/")
class Ready(View):
    async def get(self, request):
        problems = not_ready_because()
        task = host.task
        body = {"ready": not problems, "problems": problems, "partitions": len(task.owned) if task else 0,
                "now": clock.now().isoformat()}
        return self.json(body, status=503 if problems else 200)


def not_ready_because() -> list[str]:
    task, now = host.task, time.monotonic()
    problems = []
    registry = schema_registry.problem()
    if registry:
        problems.append(registry)
    if not definitions.is_ready:
        problems.append("loading definitions")
    if task is None or not task.running:
        problems.append("stream task not running")
    else:
        if task.restoring:
            problems.append(f"restoring {len(task.restoring)} store partition(s)")
        if not task.owned:
            problems.append("no partitions assigned")
        if task.broker_down_since is not None and now - task.broker_down_since >= UNREACHABLE_AFTER_SECONDS:
            problems.append(f"Kafka unreachable for {now - task.broker_down_since:.0f}s")
    if agent_health.crashed_recently(now):
        problems.append("failed in the last minute")
    return problems


def gauges() -> list[tuple[str, dict[str, str], float]]:
    found = []
    task = host.task
    if task is not None:
        for topic, partition in sorted(task.owned):
            end, position = task.end_offset(topic, partition), task.positions.get((topic, partition))
            if position is None:
                position = task.committed.get((topic, partition), 0)
            if end is not None:
                found.append(("automations_input_lag", {"topic": topic, "partition": str(partition)},
                              max(0, end - position)))
        found.append(("automations_partitions_restoring", {}, len(task.restoring)))
        found.append(("automations_transactions_total", {"outcome": "committed"}, task.stats.commits))
        found.append(("automations_transactions_total", {"outcome": "aborted"}, task.stats.aborts))
        found.append(("automations_restored_records_total", {}, task.stats.restored))
        found.append(("automations_kafka_reachable", {}, int(task.broker_down_since is None)))
    found.append(("automations_definitions_loaded", {}, len(definitions.versions)))
    found.append(("automations_ready", {}, int(not not_ready_because())))
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
