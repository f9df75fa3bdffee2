"""The worker's HTTP surface: readiness, and the test clock when enabled.

`GET /ready/` answers 200 once the worker has loaded the definitions and
holds partitions, 503 before; scripts and tests wait on it instead of
sleeping. `/test/clock/` and `/test/definitions/` exist only when the worker
was started with AUTOMATIONS_TEST_CLOCK=1 (see `processors.clock`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from faust.web import View

from processors.app import app, clock
from processors.definitions_table import definitions


@app.page("/ready/")
class Ready(View):
    async def get(self, request):
        assigned = app.assignor.assigned_actives()
        is_ready = definitions.is_ready and not app.rebalancing and bool(assigned)
        body = {"ready": is_ready, "partitions": len(assigned), "now": clock.now().isoformat()}
        return self.json(body, status=200 if is_ready else 503)


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
