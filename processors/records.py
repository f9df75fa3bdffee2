"""Translation between the engine's values and the topics' records.

Owns both directions: a consumed message of the learner processor's inputs
(school event, control command) becomes an engine command or a
dead-letter reason; an engine event becomes (topic audience, Avro bytes).
Field names follow the .avsc files in `schemas/`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from engine.commands import (
    AdvanceWaiting,
    ApplyDefinitionChange,
    CancelRun,
    FireTimer,
    HandleSchoolEvent,
    ReplayRun,
    Timer,
)
from engine.events import route
from engine.school_events import EventRejected
from engine.values import Value, as_dict, plain
from schemas.codec import DecodeError, decode, encode
from schemas.school_events import parse_json_line, school_event_from_avro


class Undecodable(Exception):
    """An input that cannot become a command; the message is the dead-letter reason."""


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(timezone.utc)


# ---------------------------------------------------------------- inputs


# Each decoder returns (command, school, user, definitions version to wait for).
LearnerInput = tuple[Any, str, str, int]

# The user of a definition change's fan-out: one control record per partition, applied
# to every learner of the school that partition holds. No learner input may name it.
BROADCAST_USER = "*"
BROADCAST_COMMANDS = (AdvanceWaiting, ApplyDefinitionChange)


def learner_input(decoders: dict, message) -> LearnerInput:
    """Decode a learner-processor input and check it sits under its learner's key."""
    decoder = decoders.get(message.topic)
    if decoder is None:
        raise Undecodable(f"no decoder for topic {message.topic}")
    if not isinstance(message.value, bytes):
        raise Undecodable("empty message value")
    command, school, user, version = decoder(message.value)
    expected = f"{school}:{user}"
    key = message.key.decode("utf-8", "replace") if message.key is not None else None
    if key != expected:
        # A record under another key sits in another learner's partition; applying it
        # would split one learner's state across partitions.
        raise Undecodable(f"message key {key!r} does not match the record's school:user {expected!r}")
    if user == BROADCAST_USER and not isinstance(command, BROADCAST_COMMANDS):
        raise Undecodable(f"user {BROADCAST_USER!r} is reserved for broadcast commands; a {type(command).__name__} cannot name it")
    return command, school, user, version


# The largest school event (its Avro bytes) the engine accepts. Real events are a
# few hundred bytes; the limit keeps one oversized record from swelling learner
# state and every record derived from it. The JSON edge refuses the same.
MAX_EVENT_BYTES = 64 * 1024


def size_problem(value: bytes) -> str | None:
    if len(value) > MAX_EVENT_BYTES:
        return f"school event is {len(value)} bytes, over the limit of {MAX_EVENT_BYTES}"
    return None


# JSON starts with `{` (possibly after white space); our Avro framing with 0xC3 0x01.
_JSON_START = frozenset(b"{ \t\r\n")


def school_event_command(value: bytes) -> LearnerInput:
    """A school event in either form the topic takes: Avro (single-object encoding) or the
    documented JSON contract, told apart by the first byte and validated alike."""
    problem = size_problem(value)
    if problem is not None:
        raise Undecodable(problem)
    if value[:1] and value[0] in _JSON_START:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Undecodable(f"undecodable school event: JSON that is not UTF-8 ({error.reason} at byte {error.start})") from None
        parsed = parse_json_line(text)
        if isinstance(parsed, EventRejected) and parsed.reason.startswith("invalid JSON"):
            raise Undecodable(f"undecodable school event: {parsed.reason}")
    else:
        try:
            parsed = school_event_from_avro(decode("school_event", value))
        except DecodeError as error:
            raise Undecodable(f"undecodable school event: {error.reason}") from None
    if isinstance(parsed, EventRejected):
        raise Undecodable(f"invalid school event: {parsed.reason}")
    return HandleSchoolEvent(event=parsed), parsed.school, parsed.user, 0


def timer_from_record(record: dict[str, Any]) -> Timer:
    return Timer(
        id=record["timer_id"],
        school=record["school"],
        user=record["user"],
        kind=record["kind"],
        due_at=_utc(record["due_at"]),
        automation_id=record.get("automation_id"),
        run_id=record.get("run_id"),
        step_id=record.get("step_id"),
        days=record.get("days"),
    )


def control_command(value: bytes) -> LearnerInput:
    try:
        record = decode("control", value)
    except DecodeError as error:
        raise Undecodable(f"undecodable control command: {error.reason}") from None
    command = _control(record)
    return command, record["school"], record["user"], record.get("version") or 0


def _control(record: dict[str, Any]):
    kind, command_id = record["type"], record["command_id"]
    if kind == "replay_run" and record.get("run_id"):
        return ReplayRun(run_id=record["run_id"], command_id=command_id)
    if kind == "cancel_run" and record.get("run_id"):
        return CancelRun(run_id=record["run_id"], command_id=command_id)
    if kind == "advance_waiting" and record.get("automation_id") and record.get("step_id"):
        return AdvanceWaiting(
            automation_id=record["automation_id"], step_id=record["step_id"], command_id=command_id
        )
    if kind == "apply_definition_change" and record.get("automation_id") and record.get("change"):
        return ApplyDefinitionChange(
            automation_id=record["automation_id"],
            change=record["change"],
            removed_step_ids=tuple(record.get("removed_step_ids") or ()),
        )
    raise Undecodable(f"control command {command_id!r} of type {kind!r} lacks its target")


def control_record(command, school: str, user: str, requested_at: datetime, version: int = 0) -> bytes:
    """Encode an operator or fan-out command for the control topic.

    `version`: the definitions version the command presumes; the learner
    processor waits until its catalog has it before applying the command.
    """
    record: dict[str, Any] = {
        "command_id": getattr(command, "command_id", None)
        or f"{command.automation_id}:{command.change}:v{version}",
        "type": command.type,
        "school": school,
        "user": user,
        "requested_at": _utc(requested_at),
        "version": version,
    }
    for name in ("run_id", "automation_id", "step_id", "change"):
        if hasattr(command, name):
            record[name] = getattr(command, name)
    if hasattr(command, "removed_step_ids"):
        record["removed_step_ids"] = list(command.removed_step_ids)
    return encode("control", record)


# ---------------------------------------------------------------- outputs


def timer_record(op: str, timer: Timer, fired_at: datetime | None = None) -> bytes:
    return encode(
        "timer",
        {
            "op": op,
            "timer_id": timer.id,
            "school": timer.school,
            "user": timer.user,
            "kind": timer.kind,
            "due_at": _utc(timer.due_at),
            "automation_id": timer.automation_id,
            "run_id": timer.run_id,
            "step_id": timer.step_id,
            "days": timer.days,
            "fired_at": _utc(fired_at) if fired_at else None,
        },
    )


def _cancelled_timer_record(event) -> bytes:
    return encode(
        "timer",
        {
            "op": "cancelled",
            "timer_id": event.timer_id,
            "school": event.school,
            "user": event.user,
            "kind": "wait",
            "due_at": _utc(event.due_at),
        },
    )


def _action_record(event) -> bytes:
    action = as_dict(event.action)
    action["at"] = _utc(action["at"])
    return encode("action", action)


def _json_default(item: Any) -> Any:
    """What `json.dumps` makes of a value it does not know: a nested engine value as `as_dict`
    gives it (as the plain view would have held it), anything else as its text."""
    return as_dict(item) if isinstance(item, Value) else str(item)


def _json(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True, default=_json_default) if value else None


# The run-status record's optional fields, in the record's order.
_RUN_STATUS_OPTIONAL = (
    "automation_version",
    "run_id",
    "status",
    "step_id",
    "step_type",
    "outcome",
    "trigger_id",
    "trigger_event_id",
    "exit_id",
    "error",
    "reason",
    "replay_of",
    "event_id",
    "matched",
)
_PLAIN_SCALARS = (str, int, bool, float)
# Per event class: which of the optional fields it has (filled on first use).
_optional_fields: dict[type, tuple[str, ...]] = {}


def run_status_dict(event, school: str, user: str) -> dict[str, Any]:
    """The flat run-status record analysts read; fields that do not apply stay null.

    The event's fields as its plain view (`as_dict`) holds them, read one by one: the
    detail and the trace, the only nested ones, go to JSON text without a plain copy
    first (`_json_default` makes a nested value what the copy held). A worker writes one
    such record for every third input; tests/unit/test_run_status_record.py holds it
    equal to the record built from `as_dict`."""
    kind = event.__class__
    names = _optional_fields.get(kind)
    if names is None:
        names = _optional_fields[kind] = tuple(n for n in _RUN_STATUS_OPTIONAL if n in kind.__struct_fields__)
    automation_id = getattr(event, "automation_id", "")
    record: dict[str, Any] = {
        "kind": event.type,
        "school": school,
        "user": user,
        "automation_id": automation_id if automation_id.__class__ is str else plain(automation_id),
        "at": _utc(event.at),
    }
    for name in names:
        value = getattr(event, name)
        if value is not None:
            record[name] = value if value.__class__ in _PLAIN_SCALARS else plain(value)
    detail = getattr(event, "detail", None)
    if isinstance(detail, Value):
        detail = as_dict(detail)
    if isinstance(detail, dict):
        record["detail"] = _json(detail)
    trace = getattr(event, "trace", None)
    record["trace_json"] = _json(as_dict(trace) if isinstance(trace, Value) else trace)
    return record


TERMINAL = {"fulfilled", "completed_via_exit", "failed", "failed_silently", "cancelled"}


def membership_change(record: dict) -> bool:
    """Does this run-status record start or end a run?"""
    if not record.get("run_id"):
        return False
    if record["kind"] == "run_started":
        return True
    return record["kind"] == "run_status_changed" and record.get("status") in TERMINAL


def automation_runs_key(value: bytes) -> bytes:
    """The automation-runs topic's key of a run-status record: `school:automation`."""
    return _automation_runs_key(decode("run_status", value))


def _automation_runs_key(record: dict) -> bytes:
    return f"{record['school']}:{record['automation_id']}".encode()


def output_records(events, school: str, user: str) -> list[tuple[str, bytes]]:
    """(audience, Avro bytes) for every event that leaves the learner processor.

    A run start or end goes to the run-status topic and, the same record, to the
    automation-runs topic (keyed by automation, see `automation_runs_key`), where
    the finishing agent counts the runs live per automation."""
    return [(audience, value) for audience, value, _ in keyed_output_records(events, school, user)]


def keyed_output_records(events, school: str, user: str) -> list[tuple[str, bytes, bytes | None]]:
    """`output_records`, each automation-runs record with its key (`automation_runs_key` of
    its bytes, taken from the record before it was encoded), the others with None."""
    out: list[tuple[str, bytes, bytes | None]] = []
    for event in events:
        audience = route(event)
        if audience == "actions":
            out.append((audience, _action_record(event), None))
        elif audience == "delays":
            if event.type == "timer_scheduled":
                out.append((audience, timer_record("scheduled", event.timer), None))
            else:
                out.append((audience, _cancelled_timer_record(event), None))
        elif audience == "run_status":
            record = run_status_dict(event, school, user)
            value = encode("run_status", record)
            out.append((audience, value, None))
            if membership_change(record):
                out.append(("automation_runs", value, _automation_runs_key(record)))
    return out
