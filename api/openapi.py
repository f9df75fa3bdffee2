"""The API's OpenAPI 3.1 document, served at `GET /openapi.json`.

Owns the description of every route in `api.app.ROUTES`: what it answers,
its parameters and bodies, its errors, and who may call it. Every body is a
model of `api.bodies`, and the document's components are generated from
those models (`models_json_schema`), so a client can generate a typed SDK
from it. `document` refuses a route without a description (and a
description without a route), so the document cannot drift from the
server's routes; a unit test builds it, and the API's integration tests hold
every real answer to its schema.
"""

from __future__ import annotations

import re

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import bodies as b

REF = "#/components/schemas/{model}"
# Request bodies are read (defaults may be left out); answers are written (every key there).
REQUESTS: tuple[type[BaseModel], ...] = (b.IngestBody, b.RebuildRequest)


def _schema(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def _ok(model: type[BaseModel], description: str, status: str = "200") -> dict:
    return {status: {"description": description, "content": {"application/json": {"schema": _schema(model)}}}}


def _body(model: type[BaseModel], required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": _schema(model)}}}

# Every id in a path (engine.identifiers).
ID_SCHEMA = {"type": "string", **b.ID_SCHEMA}


def _errors(*statuses: int) -> dict:
    reasons = {
        400: "Bad input; `error` (and `problems` for events) say why.",
        401: "No token, or an unknown one.",
        403: "The token is not for this school (or this needs the operator token).",
        404: "Not found in this school: other schools' ids are never found.",
        409: "Not possible in the run's or automation's current state.",
        413: "The body is over 8 MiB (after decompression).",
        503: "The views are still loading from Kafka, or Kafka did not confirm the write within "
             "AUTOMATIONS_WRITE_TIMEOUT (the broker away or frozen; the server stopping): send it again.",
        504: "A synchronous ingest got no receipt in time; the events are in Kafka.",
    }
    return {
        str(status): {"description": reasons[status], "content": {"application/json": {"schema": _schema(b.Error)}}}
        for status in statuses
    }


def _query(name: str, description: str, enum: tuple[str, ...] | None = None, integer: bool = False) -> dict:
    schema: dict = {"type": "integer"} if integer else {"type": "string"}
    if enum:
        schema["enum"] = list(enum)
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


RUN_STATUSES = ("pending", "executing", "fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled")
SCHOOL_ERRORS = (401, 403, 503)

OPERATIONS: dict[tuple[str, str], dict] = {
    ("GET", "/health"): {"summary": "The server process answers.", "responses": _ok(b.Health, "Always ok.")},
    ("GET", "/ready"): {
        "summary": "Whether the views have caught up with Kafka, are not being rebuilt (`rebuilding` lists the "
        "partitions that are), and the broker answers (503 within about 6 s of losing it, 200 once it is back).",
        "responses": {**_ok(b.Ready, "Ready."), **_ok(b.Ready, "Not ready: the same body says why.", "503")},
    },
    ("GET", "/openapi.json"): {"summary": "This document.", "responses": _ok(b.OpenApiDocument, "OpenAPI 3.1.")},
    ("GET", "/schools/{school}/automations"): {
        "summary": "The automations page: name, status, groups, times executed, runs by status, last run, last edited.",
        "parameters": [
            _query("search", "Only automations whose name or id contains this text (any case)."),
            _query("status", "Only automations in this status.", ("active", "inactive", "finishing")),
            _query("group", "Only automations in this group."),
        ],
        "responses": {**_ok(b.AutomationsPage, "The school's automations."), **_errors(400, *SCHOOL_ERRORS)},
    },
    ("GET", "/schools/{school}/automations/{automation_id}"): {
        "summary": "One automation's figures and its step funnel.",
        "responses": {**_ok(b.AutomationDetail, "The automation."), **_errors(404, *SCHOOL_ERRORS)},
    },
    ("GET", "/schools/{school}/automations/{automation_id}/runs"): {
        "summary": "The automation's runs, newest first (times executed, by status).",
        "parameters": [
            _query("status", "Only runs whose current status is this.", RUN_STATUSES),
            _query("limit", "At most this many runs (1-1000, default 100).", integer=True),
        ],
        "responses": {**_ok(b.RunsList, "Run summaries."), **_errors(400, 404, *SCHOOL_ERRORS)},
    },
    ("GET", "/schools/{school}/automations/{automation_id}/steps"): {
        "summary": "The live funnel: per step, runs that reached it, outcomes, learners waiting now, time spent waiting.",
        "responses": {**_ok(b.AutomationSteps, "`waiting` (step id -> learners waiting now) and `steps`."),
                      **_errors(404, *SCHOOL_ERRORS)},
    },
    ("POST", "/schools/{school}/automations/{automation_id}/steps/{step_id}/advance"): {
        "summary": "Advance every learner waiting in this wait step to the next step now; the step stays.",
        "description": "Written to the definitions topic; every worker moves on the learners of its partitions.",
        "responses": {**_ok(b.AdvanceAccepted, "Accepted.", "202"), **_errors(404, 409, *SCHOOL_ERRORS)},
    },
    ("GET", "/schools/{school}/runs/{run_id}"): {
        "summary": "The activity view of a run: status, every step with time and outcome, the exit that fired, "
        "the error, replays, and the decision trace.",
        "responses": {**_ok(b.RunActivity, "The run."), **_errors(404, *SCHOOL_ERRORS)},
    },
    ("POST", "/schools/{school}/runs/{run_id}/replay"): {
        "summary": "Replay a pending, fulfilled or failed run: a new run from the first step, linked to it "
        "(a pending original is cancelled).",
        "description": "A command on the control topic; the answer names the new run's id. "
        "Refused (409) for other statuses, and while the automation is finishing or after it was deleted.",
        "responses": {**_ok(b.ReplayAccepted, "Accepted: `new_run_id`.", "202"), **_errors(404, 409, *SCHOOL_ERRORS)},
    },
    ("POST", "/schools/{school}/runs/{run_id}/cancel"): {
        "summary": "Cancel a pending run.",
        "responses": {**_ok(b.CancelAccepted, "Accepted.", "202"), **_errors(404, 409, *SCHOOL_ERRORS)},
    },
    ("GET", "/schools/{school}/learners/{user}/runs"): {
        "summary": "A learner's runs across automations, and the entries that started none (skipped, declined) with why.",
        "responses": {**_ok(b.LearnerHistory, "The learner's history."), **_errors(*SCHOOL_ERRORS)},
    },
    ("POST", "/schools/{school}/events"): {
        "summary": "Ingest school events (one JSON object or a list).",
        "description": "An event that could trigger an active synchronous automation is answered (200) after "
        "its runs ran up to their first wait or end, with the runs and the actions; otherwise 202 once the "
        "events are durably in Kafka. Every invalid event is reported (400) and then nothing is sent. A list "
        "holds at most AUTOMATIONS_MAX_EVENTS_PER_REQUEST events, a body at most 8 MiB (413). 503: Kafka did "
        "not take the events (send them again).",
        "requestBody": _body(b.IngestBody),
        "responses": {**_ok(b.IngestAnswered, "Synchronous: per event, runs and actions."),
                      **_ok(b.IngestAccepted, "Accepted.", "202"),
                      **_errors(400, 413, 503, 504, *SCHOOL_ERRORS)},
    },
    ("GET", "/operator/projections"): {
        "summary": "Operator: the projections' progress: partitions being rebuilt, records read of total (during a rebuild), "
        "`position` (records read since start, all partitions), records applied (duplicates not counted), as the "
        "projections' store counts them; `projector`: whether this server folds (without it, only the store's counts).",
        "responses": {**_ok(b.ProjectionsProgress, "Progress."), **_errors(401, 403, 503)},
    },
    ("POST", "/operator/projections/rebuild"): {
        "summary": "Operator: drop the views of some (default all) run-status partitions and fold them again from offset 0. "
        "Refused (409) by a server that does not fold (AUTOMATIONS_PROJECTOR=off): `automations projector run --rebuild` does.",
        "requestBody": _body(b.RebuildRequest, required=False),
        "responses": {**_ok(b.RebuildAccepted, "Rebuilding.", "202"), **_errors(400, 401, 403, 409, 503)},
    },
    ("GET", "/operator/projections/snapshot"): {
        "summary": "Operator: every view of every school, in a stable order (compare before and after a rebuild). "
        "For tests and small installations: it is built in one go from the projections' store, a few queries a run.",
        "responses": {**_ok(b.Snapshot, "The snapshot."), **_errors(401, 403, 503)},
    },
}

def _models() -> list[type[BaseModel]]:
    """Every model an operation names, each once, in the order first named."""
    names = re.findall(r"#/components/schemas/(\w+)", repr(OPERATIONS))
    return [getattr(b, name) for name in dict.fromkeys(names)]


def components() -> dict:
    """The securitySchemes, and the schemas generated from the models (their nested models included)."""
    chosen = [(model, "validation" if model in REQUESTS else "serialization") for model in _models()]
    _, generated = models_json_schema(chosen, ref_template=REF)
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "A school's token (`automations tokens add SCHOOL`) or the operator's."}},
        "schemas": generated["$defs"],
    }


def _path_parameters(path: str) -> list[dict]:
    return [
        {"name": name, "in": "path", "required": True, "schema": ID_SCHEMA,
         "description": "An id (anything else is answered 400)."}
        for name in re.findall(r"{(\w+)}", path)
    ]


def document(routes) -> dict:
    served = {(route.method, route.path): route for route in routes}
    if set(served) != set(OPERATIONS):
        raise RuntimeError(f"OpenAPI and routes differ: {sorted(set(served) ^ set(OPERATIONS))}")
    paths: dict[str, dict] = {}
    for (method, path), operation in OPERATIONS.items():
        access = served[(method, path)].access
        entry = {**operation, "parameters": _path_parameters(path) + operation.get("parameters", [])}
        entry["security"] = [] if access == "public" else [{"bearer": []}]
        entry["x-access"] = access
        paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "School automations API", "version": "1",
                 "description": "Scoped by school: a school's token sees only that school (ruling 16)."},
        "paths": paths,
        "components": components(),
    }
