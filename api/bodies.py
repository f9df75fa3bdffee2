"""Every request and answer body of the HTTP API, as pydantic models.

Owns the shapes a client may rely on: `api.openapi` turns these models into
the document's components (`model_json_schema`), so a client can generate a
typed SDK, and a test holds the server's real answers to them. The handlers
build plain dicts (the projections render them, `projections.queries`); a
key added there and not here fails that test (`extra="forbid"`). A field
that may be null is still always present: required, and nullable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel

from engine.identifiers import ID_PATTERN, MAX_ID_LENGTH

# Documents the id rule (engine.identifiers) without checking it here: the contract does, with its reasons.
ID_SCHEMA = {"pattern": f"^{ID_PATTERN.pattern}$", "maxLength": MAX_ID_LENGTH}

RunStatus = Literal["pending", "executing", "fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled"]
AutomationStatus = Literal["active", "inactive", "finishing"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- errors and the server


class Problem(Body):
    """One bad event of an ingest: its place in the list (null: the body as a whole)."""

    index: int | None
    event_id: str | None
    reason: str


class Error(Body):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="What went wrong, in one sentence.")
    problems: list[Problem] | None = Field(None, description="Ingest (400): every bad event.")
    event_ids: list[str] | None = Field(None, description="Ingest (503): the events to send again.")
    waiting_for: list[str] | None = Field(None, description="Ingest (504): the events whose receipt did not come.")


class Health(Body):
    status: Literal["ok"]


class Ready(Body):
    ready: bool
    rebuilding: list[int] = Field(description="Run-status partitions an operator's rebuild is reading again.")
    broker_answering: bool = Field(description="Whether the Kafka broker answered in the last 3 seconds.")
    writes_waiting: int = Field(description="Writes to Kafka whose callers are waiting now.")
    broker_silent_seconds: float | None = Field(None, description="Only while the broker does not answer: for how long.")
    feeds_ended: list[str] | None = Field(None, description="Only when a topic's reading ended (its views no longer "
                                                             "follow Kafka; the server's log says why): restart the server.")
    schema_registry: str | None = Field(None, description="Only while AUTOMATIONS_SCHEMA_REGISTRY_URL is set and its "
                                                          "registry has not answered: why (nothing is read or written).")


class OpenApiDocument(BaseModel):
    """This document (OpenAPI 3.1)."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


# ---------------------------------------------------------------- automations and steps


class AutomationFigures(Body):
    times_executed: int = Field(description="Runs started, replays included.")
    skipped: int = Field(description="Starts skipped (the same trigger within 60 s).")
    declined: int
    by_status: dict[str, int] = Field(description="Runs by current status (statuses with none left out).")
    learners_inside: int = Field(description="Learners with a run pending or executing, each once.")
    last_run_at: datetime | None


class AutomationRow(AutomationFigures):
    id: str
    name: str
    status: AutomationStatus
    groups: list[str]
    mode: Literal["synchronous", "asynchronous"]
    version: int
    last_edited_at: datetime | None
    activated_at: datetime | None


class AutomationsPage(Body):
    school: str
    automations: list[AutomationRow]


class StepFigures(Body):
    step_id: str
    step_type: str | None
    reached: int = Field(description="Runs that reached the step.")
    outcomes: dict[str, int]
    waiting_now: int
    waiting_since_oldest: datetime | None
    left_after_waiting: int
    average_wait_seconds: float | None
    longest_wait_seconds: float | None
    in_flow: bool = Field(description="False for a step an edit removed.")
    is_wait: bool | None = Field(description="Null for a step an edit removed.")


class AutomationDetail(AutomationRow):
    steps: list[StepFigures]


class AutomationSteps(Body):
    automation_id: str
    waiting: dict[str, int] = Field(description="Step id -> learners waiting there now.")
    steps: list[StepFigures]


class AdvanceAccepted(Body):
    automation_id: str
    step_id: str
    version: int = Field(description="The automation's version that carries the advance.")
    waiting_when_asked: int


# ---------------------------------------------------------------- runs and learners


class RunSummary(Body):
    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int | None
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None
    waiting_in: str | None
    trigger_id: str | None
    trigger_event_id: str | None
    replay_of: str | None
    replayed_by: list[str]
    exit_id: str | None
    error: str | None
    reason: str | None


class RunsList(Body):
    automation_id: str
    runs: list[RunSummary]


class RunStep(Body):
    step_id: str
    step_type: str | None
    outcome: str | None
    at: datetime
    detail: Any = Field(description="What the step did (JSON as the worker recorded it).")


class StatusChange(Body):
    status: RunStatus
    at: datetime
    reason: str | None = None
    error: str | None = None
    exit_id: str | None = None


class ExitCheck(Body):
    exit_id: str | None
    event_id: str | None
    matched: bool | None
    at: datetime
    trace: Any


class DecisionTrace(Body):
    trigger: Any = Field(description="The trigger's evaluation at the start.")
    exit_checks: list[ExitCheck]


class RunActivity(RunSummary):
    replayable: bool
    steps: list[RunStep]
    history: list[StatusChange]
    trace: DecisionTrace


class ReplayAccepted(Body):
    command_id: str
    run_id: str
    new_run_id: str


class CancelAccepted(Body):
    command_id: str
    run_id: str


class NotStartedEntry(Body):
    kind: str = Field(description="skipped, declined, ...")
    automation_id: str
    at: datetime
    event_id: str | None
    trigger_id: str | None
    reason: str | None
    trace: Any


class LearnerHistory(Body):
    school: str
    user: str
    runs: list[RunSummary]
    not_started: list[NotStartedEntry]


# ---------------------------------------------------------------- ingest


class SchoolEvent(Body):
    """One school event as the platform sends it (docs/school-events.md)."""

    id: str
    type: str = Field(description="user.registered, course.enrolled, user.tag_added, ...")
    school: str = Field(description="Must be the path's school.", json_schema_extra=ID_SCHEMA)
    user: str = Field(json_schema_extra=ID_SCHEMA)
    subject: Literal["user", "lead", "visitor"] = "user"
    occurred_at: datetime
    data: dict[str, Any] = {}


class IngestBody(RootModel[Union[SchoolEvent, list[SchoolEvent]]]):
    """One event or a list of them."""


class IngestAccepted(Body):
    accepted: int
    event_ids: list[str]


class ReceiptRun(Body):
    run_id: str
    automation_id: str
    mode: Literal["synchronous", "asynchronous"]
    status: RunStatus


class SynchronousAnswer(Body):
    event_id: str
    mode: Literal["synchronous"]
    dead_lettered: str | None
    runs: list[ReceiptRun]
    actions: list[dict[str, Any]] = Field(description="The action commands emitted (ActionCommand records).")


class AsynchronousAnswer(Body):
    event_id: str
    mode: Literal["asynchronous"]
    accepted: bool


class IngestAnswered(Body):
    events: list[Union[SynchronousAnswer, AsynchronousAnswer]]


# ---------------------------------------------------------------- operator


class ProjectionsProgress(Body):
    projector: bool = Field(description="Whether this server folds the run-status topic (AUTOMATIONS_PROJECTOR); "
                                        "when not, the reading fields are absent and the counts are the store's.")
    partitions: list[int] | None = None
    rebuilding: list[int] | None = None
    caught_up: bool | None = None
    read: int | None = None
    total: int | None = None
    position: int
    records_applied: int
    records_applied_by_partition: dict[str, int]
    undecodable: int


class RebuildRequest(Body):
    partitions: list[int] | None = Field(None, description="Default: every partition.")


class RebuildAccepted(Body):
    rebuilding: list[int]
    read: int
    total: int


class SnapshotAutomation(Body):
    stats: AutomationFigures
    steps: list[StepFigures]


class Snapshot(Body):
    automations: dict[str, SnapshotAutomation] = Field(description="By school/automation id.")
    learners: dict[str, LearnerHistory] = Field(description="By school/user.")
    runs: dict[str, RunActivity] = Field(description="By run id.")
