"""The HTTP API (aiohttp): routes, scoping by school, and the server's lifetime.

Owns `ROUTES` (method, path, handler, who may call it; the OpenAPI document
in `api.openapi` describes exactly these, a test checks it), the handlers,
and `Service`, which starts the feeds (definitions and run status from
their start, receipts from their end) and one producer, and stops them.
Every Kafka write answers within `AUTOMATIONS_WRITE_TIMEOUT` (`api.writes`),
`/ready` follows the broker (`api.broker_watch`), and a stop takes at most
`STOP_SECONDS` whatever the broker does. Every `/schools/{school}/...` route answers only a token of that school or
the operator's (ruling 16); a run, automation or learner of another school
is not found, whatever its id. Reads come from the projections' database
(`projections.sql_queries`, each in a thread off the event loop), which this
server also keeps folded from the run-status topic unless AUTOMATIONS_PROJECTOR
is off (a projector of its own then does it); operator actions become
commands on Kafka (`api.commands`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

from aiohttp import web
from aiokafka.errors import KafkaError

from api import commands, openapi
from api.auth import Authenticator, Principal
from api.broker_watch import BrokerWatch
from api.feeds import TopicFeed
from api.ingest import ingest
from api.settings import ApiSettings
from api.views import DefinitionsView, ReceiptWaiters, RunStatusProjection
from api.writes import Unconfirmed, Writes
from engine.identifiers import id_problem
from processors import schema_registry
from processors.config import Settings
from processors.kafka_io import BrokerUnavailable, start_producer
from projections import sql_queries as queries
from projections.projector import freeze_started_heap
from projections.store import ProjectionStore, projections_url
from schemas.confluent import RegistryUnavailable

RUN_STATUSES = ("pending", "executing", "fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled")
AUTOMATION_STATUSES = ("active", "inactive", "finishing")
MAX_LIMIT = 1000
MAX_BODY_BYTES = 8 * 1024 * 1024  # after decompression
# A stop's budget: container platforms kill after 30 s, and an outage must not eat
# it. Handlers get HANDLERS_GRACE (writes answer at once when the stop begins), then
# each piece STEP_GRACE; what has not stopped by then is abandoned with the process.
STOP_SECONDS = 10
HANDLERS_GRACE = 2.0
STEP_GRACE = 2.0
log = logging.getLogger(__name__)


class Service:
    """The server's state: settings, views, feeds and the producer."""

    def __init__(self, settings: Settings, api_settings: ApiSettings) -> None:
        self.settings = settings
        self.api = api_settings
        self.auth = Authenticator(api_settings.tokens_file, api_settings.operator_token_sha256)
        self.definitions = DefinitionsView()
        topics = settings.topics
        self.store = ProjectionStore(api_settings.projections_url or projections_url(topics.prefix))
        self.runs = RunStatusProjection(self.store, topics.run_status)
        self.receipts = ReceiptWaiters()
        self.feeds = {
            "definitions": TopicFeed(settings, topics.definitions, self.definitions.apply),
            "receipts": TopicFeed(settings, topics.receipts, self.receipts.apply, from_start=False),
        }
        if api_settings.projector:
            self.feeds["run_status"] = TopicFeed(
                settings, topics.run_status, self.runs.fold, on_rewind=self.runs.reset,
                handle_batch=self.runs.fold, start_at=self.runs.start_offsets,
            )
        self.producer = None
        self.loaded = False
        self._loading: asyncio.Task | None = None
        self.writes = Writes(api_settings.write_timeout)
        self.broker = BrokerWatch(settings.bootstrap_servers)

    async def start(self, _app: web.Application | None = None) -> None:
        await asyncio.to_thread(self.store.migrate)
        self.producer = await start_producer(self.settings)
        for feed in self.feeds.values():
            await feed.start()
        self._loading = asyncio.create_task(self._load())
        self.broker.start()

    async def _load(self) -> None:
        await self.feeds["definitions"].caught_up.wait()
        if "run_status" in self.feeds:
            await self.feeds["run_status"].caught_up.wait()
        self.loaded = True

    async def stopping(self, _app: web.Application | None = None) -> None:
        """The stop begins: callers waiting on Kafka are answered now, not cut off."""
        self.writes.stop()

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._loading is not None:
            self._loading.cancel()
        await self.broker.stop()
        await self.writes.cancelled(STEP_GRACE)
        # Each bounded: with the broker away, a consumer's or producer's stop waits for
        # requests that are never answered (the producer for every unsent batch).
        await _within(STEP_GRACE, "the feeds", *(feed.stop() for feed in self.feeds.values()))
        if self.producer is not None:
            await _within(STEP_GRACE, "the producer", self.producer.stop())
        self.store.close()

    async def read(self, ask: Callable, *args, **options):
        """`ask(connection, *args)` of `projections.sql_queries`, in a thread: a query never
        holds up the event loop (the feeds, the writes, the other requests)."""

        def run():
            with self.store.reading() as conn:
                return ask(conn, *args, **options)

        return await asyncio.to_thread(run)


async def _within(seconds: float, what: str, *stops) -> None:
    tasks = [asyncio.ensure_future(stop) for stop in stops]
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            log.warning("stopping %s: %r", what, task.exception())
    if pending:
        log.warning("stopping %s took over %gs (the broker away?); left behind", what, seconds)


# ---------------------------------------------------------------- helpers


def _json(body, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda value: json.dumps(value, default=str))


def _error(status: int, message: str, **extra) -> web.Response:
    return _json({"error": message, **extra}, status=status)


def _now() -> datetime:
    return datetime.now(timezone.utc)


SERVICE = web.AppKey("service", Service)


def _service(request: web.Request) -> Service:
    return request.app[SERVICE]


Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: str  # "public", "school" (that school's token or the operator's) or "operator"


def _authorized(request: web.Request, access: str) -> web.Response | Principal | None:
    if access == "public":
        return None
    principal = _service(request).auth.principal(request.headers.get("Authorization"))
    if principal is None:
        response = _error(401, "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="automations"'
        return response
    if access == "operator" and not principal.operator:
        return _error(403, "this needs the operator token")
    if access == "school" and not principal.may_act_for(request.match_info["school"]):
        return _error(403, "this token is not for this school")
    return principal


def _guarded(route: Route) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        refused = _authorized(request, route.access)
        if isinstance(refused, web.Response):
            return refused
        unfit = _unfit_id(request)
        if unfit:
            return _error(400, unfit)
        if route.access != "public" and not _service(request).loaded:
            return _error(503, "the views are still loading from Kafka; see GET /ready")
        return await route.handler(request)

    return handler


# The path's ids and what the answer calls them (engine.identifiers: one pattern for every id).
PATH_IDS = (("school", "school id"), ("automation_id", "automation id"), ("step_id", "step id"),
            ("run_id", "run id"), ("user", "user id"))


def _unfit_id(request: web.Request) -> str | None:
    """Why an id in the path cannot be one; None when every id can."""
    for name, what in PATH_IDS:
        value = request.match_info.get(name)
        problem = id_problem(what, value) if value is not None else None
        if problem:
            return problem
    return None


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be one of {', '.join(allowed)}; got {value!r}"}),
            content_type="application/json",
        )
    return value


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    # ASCII digits only: str.isdigit also takes '²' and other scripts' digits, and int()
    # refuses a text of over 4,300 digits.
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"limit must be a whole number from 1 to {MAX_LIMIT}; got {raw!r}"}),
            content_type="application/json",
        )
    return int(raw)


async def _known_automation(service: Service, school: str, automation_id: str) -> bool:
    if service.definitions.get(school, automation_id) is not None:
        return True
    return await service.read(queries.known_automation, school, automation_id)


# ---------------------------------------------------------------- handlers


async def health(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    # Not while partitions are rebuilt either: their figures are being counted again from
    # zero; nor while the broker is away: nothing new reaches the views, no write succeeds.
    service = _service(request)
    rebuilding = sorted(service.feeds["run_status"].rewinding) if "run_status" in service.feeds else []
    broker = service.broker.answering
    # A feed whose task ended (an error it could not outlast) leaves its views behind for good.
    ended = sorted(name for name, feed in service.feeds.items() if not feed.running)
    registry = schema_registry.problem()
    ready = service.loaded and not rebuilding and broker and not ended and not registry
    body = {"ready": ready, "rebuilding": rebuilding, "broker_answering": broker, "writes_waiting": service.writes.waiting}
    if registry:
        body["schema_registry"] = registry
    if ended:
        body["feeds_ended"] = ended
    if not broker:
        body["broker_silent_seconds"] = round(service.broker.away_for(), 1)
    return _json(body, status=200 if ready else 503)


async def openapi_document(request: web.Request) -> web.Response:
    return _json(openapi.document(ROUTES))


async def list_automations(request: web.Request) -> web.Response:
    service, school = _service(request), request.match_info["school"]
    rows = await service.read(
        queries.automations_page,
        service.definitions.of_school(school),
        school,
        search=request.query.get("search"),
        status=_choice(request, "status", AUTOMATION_STATUSES),
        group=request.query.get("group"),
    )
    return _json({"school": school, "automations": rows})


async def get_automation(request: web.Request) -> web.Response:
    service, school, automation_id = _service(request), request.match_info["school"], request.match_info["automation_id"]
    automation = service.definitions.get(school, automation_id)
    if automation is None:
        return _error(404, f"no automation {automation_id!r} in school {school!r}")
    return _json(
        {
            **await service.read(queries.automation_row, automation),
            "steps": await service.read(queries.step_funnel, school, automation_id, automation),
        }
    )


async def list_runs(request: web.Request) -> web.Response:
    service, school, automation_id = _service(request), request.match_info["school"], request.match_info["automation_id"]
    status, limit = _choice(request, "status", RUN_STATUSES), _limit(request)
    if not await _known_automation(service, school, automation_id):
        return _error(404, f"no automation {automation_id!r} in school {school!r}")
    runs = await service.read(queries.runs_of_automation, school, automation_id, status=status, limit=limit)
    return _json({"automation_id": automation_id, "runs": runs})


async def list_steps(request: web.Request) -> web.Response:
    service, school, automation_id = _service(request), request.match_info["school"], request.match_info["automation_id"]
    if not await _known_automation(service, school, automation_id):
        return _error(404, f"no automation {automation_id!r} in school {school!r}")
    automation = service.definitions.get(school, automation_id)
    return _json(
        {
            "automation_id": automation_id,
            "waiting": await service.read(queries.waiting_by_step, school, automation_id),
            "steps": await service.read(queries.step_funnel, school, automation_id, automation),
        }
    )


async def advance_step(request: web.Request) -> web.Response:
    service, school = _service(request), request.match_info["school"]
    automation_id, step_id = request.match_info["automation_id"], request.match_info["step_id"]
    automation = service.definitions.get(school, automation_id)
    if automation is None:
        return _error(404, f"no automation {automation_id!r} in school {school!r}")
    refusal = commands.advance_refusal(automation, step_id)
    if refusal:  # a step the flow lacks is not found; one that is no wait cannot be advanced
        return _error(404 if commands.missing_step(automation, step_id) else 409, refusal)
    waiting = (await service.read(queries.waiting_by_step, school, automation_id)).get(step_id, 0)
    result = await _written(service, commands.advance(service.settings, automation, step_id, _now()))
    if isinstance(result, web.Response):
        return result
    if "error" in result:
        return _error(409, result["error"])
    return _json({**result, "waiting_when_asked": waiting}, status=202)


async def _run_of(request: web.Request):
    service, school, run_id = _service(request), request.match_info["school"], request.match_info["run_id"]
    return await service.read(queries.find_run, run_id, school)


async def get_run(request: web.Request) -> web.Response:
    run = await _run_of(request)
    if run is None:
        return _error(404, f"no run {request.match_info['run_id']!r} in school {request.match_info['school']!r}")
    activity = run.activity()
    # The run's status alone does not say it: a finishing or deleted automation replays nothing.
    automation = _service(request).definitions.get(run.school, run.automation_id)
    activity["replayable"] = commands.replay_refusal(run, automation) is None
    return _json(activity)


async def replay_run(request: web.Request) -> web.Response:
    run = await _run_of(request)
    if run is None:
        return _error(404, f"no run {request.match_info['run_id']!r} in school {request.match_info['school']!r}")
    automation = _service(request).definitions.get(run.school, run.automation_id)
    refusal = commands.replay_refusal(run, automation)
    if refusal:
        return _error(409, refusal)
    result = await _written(_service(request), commands.replay(_service(request).settings, run, _now()))
    return result if isinstance(result, web.Response) else _json(result, status=202)


async def cancel_run(request: web.Request) -> web.Response:
    run = await _run_of(request)
    if run is None:
        return _error(404, f"no run {request.match_info['run_id']!r} in school {request.match_info['school']!r}")
    refusal = commands.cancel_refusal(run)
    if refusal:
        return _error(409, refusal)
    result = await _written(_service(request), commands.cancel(_service(request).settings, run, _now()))
    return result if isinstance(result, web.Response) else _json(result, status=202)


async def _written(service: Service, write) -> dict | web.Response:
    """A command's write within the server's bound; a 503 when Kafka does not take it."""
    try:
        return await service.writes.run(write)
    except (Unconfirmed, KafkaError, BrokerUnavailable, RegistryUnavailable) as error:
        why = str(error) if isinstance(error, (Unconfirmed, BrokerUnavailable, RegistryUnavailable)) else type(error).__name__
        return _error(503, f"Kafka did not take the command ({why}); nothing is confirmed: ask again")


async def learner_runs(request: web.Request) -> web.Response:
    service = _service(request)
    return _json(await service.read(queries.learner_history, request.match_info["school"], request.match_info["user"]))


async def post_events(request: web.Request) -> web.Response:
    service = _service(request)
    answer = await ingest(
        service.settings,
        service.producer,
        service.definitions,
        service.receipts,
        request.match_info["school"],
        await request.read(),
        service.api.max_events_per_request,
        service.api.sync_timeout,
        service.writes,
    )
    return _json(answer.body, status=answer.status)


async def projections_status(request: web.Request) -> web.Response:
    service = _service(request)
    counts = await asyncio.to_thread(service.runs.projector.counts)
    feed = service.feeds.get("run_status")
    folded = {
        "records_applied": sum(applied for applied, _ in counts.values()),
        "records_applied_by_partition": {str(p): applied for p, (applied, _) in sorted(counts.items())},
        "undecodable": sum(undecodable for _, undecodable in counts.values()),
        "projector": feed is not None,
    }
    if feed is None:  # the fold is a projector's of its own: what the store says it has done
        return _json({**folded, "position": sum((await asyncio.to_thread(service.runs.start_offsets)).values())})
    read, total = feed.progress(sorted(feed.rewinding) or None)
    return _json(
        {
            "partitions": feed.partitions,
            "rebuilding": sorted(feed.rewinding),
            "caught_up": feed.caught_up.is_set(),
            "read": read,
            "total": total,
            "position": sum(feed.positions.values()),
            **folded,
        }
    )


async def rebuild_projections(request: web.Request) -> web.Response:
    service = _service(request)
    feed = service.feeds.get("run_status")
    if feed is None:
        return _error(409, "this server does not fold the run-status topic (AUTOMATIONS_PROJECTOR=off): "
                           "rebuild with `automations projector run --rebuild`")
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        return _error(400, "the body must be JSON, e.g. {\"partitions\": [0, 1]}")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object, e.g. {\"partitions\": [0, 1]}")
    partitions = body.get("partitions")
    if partitions is None:
        partitions = list(feed.partitions)
    # type() and not isinstance: true and 1.0 equal 1, and are no partition number.
    if not isinstance(partitions, list) or any(type(p) is not int or p not in feed.partitions for p in partitions):
        return _error(400, f"partitions must be a list of {feed.topic}'s partitions {feed.partitions}")
    await feed.rewind(partitions)
    read, total = feed.progress(partitions)
    return _json({"rebuilding": partitions, "read": read, "total": total}, status=202)


async def projections_snapshot(request: web.Request) -> web.Response:
    return _json(await _service(request).read(queries.snapshot))


SCHOOL = "/schools/{school}"
ROUTES = [
    Route("GET", "/health", health, "public"),
    Route("GET", "/ready", ready, "public"),
    Route("GET", "/openapi.json", openapi_document, "public"),
    Route("GET", SCHOOL + "/automations", list_automations, "school"),
    Route("GET", SCHOOL + "/automations/{automation_id}", get_automation, "school"),
    Route("GET", SCHOOL + "/automations/{automation_id}/runs", list_runs, "school"),
    Route("GET", SCHOOL + "/automations/{automation_id}/steps", list_steps, "school"),
    Route("POST", SCHOOL + "/automations/{automation_id}/steps/{step_id}/advance", advance_step, "school"),
    Route("GET", SCHOOL + "/runs/{run_id}", get_run, "school"),
    Route("POST", SCHOOL + "/runs/{run_id}/replay", replay_run, "school"),
    Route("POST", SCHOOL + "/runs/{run_id}/cancel", cancel_run, "school"),
    Route("GET", SCHOOL + "/learners/{user}/runs", learner_runs, "school"),
    Route("POST", SCHOOL + "/events", post_events, "school"),
    Route("GET", "/operator/projections", projections_status, "operator"),
    Route("POST", "/operator/projections/rebuild", rebuild_projections, "operator"),
    Route("GET", "/operator/projections/snapshot", projections_snapshot, "operator"),
]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer is JSON, also aiohttp's own (404 for an unknown path, 405, 413 for a
    body over MAX_BODY_BYTES) and a failure no handler expected (500, logged in full)."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        default = f"{error.status}: {error.reason}"  # aiohttp's text when it has nothing to add
        response = _error(error.status, error.reason if error.text in (None, "", default) else error.text)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:  # noqa: BLE001 - the answer is a 500, the details go to the log
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, "the server failed on this request; its log has the details")


def build_app(service: Service) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[json_errors])
    app[SERVICE] = service
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guarded(route))
    app.on_startup.append(service.start)
    app.on_shutdown.append(service.stopping)  # before aiohttp waits for the handlers
    app.on_cleanup.append(service.stop)
    return app


async def _started_heap_frozen(_app: web.Application) -> None:
    freeze_started_heap()


def serve(settings: Settings, api_settings: ApiSettings, announce: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; `announce` is called once the server listens."""
    app = build_app(Service(settings, api_settings))
    app.on_startup.append(_started_heap_frozen)  # after the service's start: the server's process only
    web.run_app(app, host=api_settings.host, port=api_settings.port,
                shutdown_timeout=HANDLERS_GRACE, print=(lambda _banner: announce()) if announce else None)
