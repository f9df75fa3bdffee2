"""School events on the wire: the Avro form of `SchoolEvent`, and the JSON edge.

Owns the mapping between `engine.school_events.SchoolEvent` and the
`school_event` Avro record, and `parse_json_line` for JSON arriving over HTTP
or the CLI (JSON is accepted only there). Validation itself is the engine's
`parse_school_event`; this module adds what the wire needs: the payload record
matching the event type, and refusing JSON values Avro cannot carry, so every
event the edge accepts can be written to the topic. Payload keys the schema
does not name are not carried: a new payload field is a new schema version.
Nothing here raises on bad input.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any, Mapping

from engine import strict_json
from engine.school_events import PAYLOADS, EventRejected, SchoolEvent, parse_school_event
from engine.values import replace
from schemas.codec import SHIPPED, DecodeError, EncodeError, decode, encode

MAX_LINE_CHARS = 1_000_000  # Kafka's default message size limit
_LONG_RANGE = range(-(2**63), 2**63)


def _payload_records() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Short record name -> (full name, fields), from the latest shipped schema."""
    schema = SHIPPED.latest("school_event").schema
    data_field = next(f for f in schema["fields"] if f["name"] == "data")
    return {
        record["name"].rsplit(".", 1)[-1]: (record["name"], record["fields"])
        for record in data_field["type"]
    }


_PAYLOAD_RECORDS = _payload_records()


def school_event_to_avro(event: SchoolEvent) -> dict[str, Any]:
    """The `school_event` record of a valid event (one `parse_school_event` accepted)."""
    record_name = PAYLOADS[event.type].__name__ if event.type in PAYLOADS else None
    if record_name not in _PAYLOAD_RECORDS:
        raise EncodeError(f"no Avro payload record for event type {event.type!r}")
    full_name, fields = _PAYLOAD_RECORDS[record_name]
    payload = {f["name"]: event.data.get(f["name"], f.get("default")) for f in fields}
    return {
        "id": event.id,
        "type": event.type,
        "school": event.school,
        "user": event.user,
        "subject": event.subject,
        "occurred_at": _rfc3339(event),
        "data": (full_name, payload),
        "cause": list(event.cause),
    }


def school_event_from_avro(record: Mapping[str, Any]) -> SchoolEvent | EventRejected:
    """Validate a decoded `school_event` record; `data` may be `(record name, dict)`."""
    raw = dict(record)
    data = raw.get("data")
    if isinstance(data, tuple) and len(data) == 2:
        record_name, raw["data"] = data
        expected = PAYLOADS.get(raw.get("type"))  # type: ignore[arg-type]
        short_name = str(record_name).rsplit(".", 1)[-1]
        if expected is not None and short_name != expected.__name__:
            return EventRejected(
                reason=f"data is a {short_name} record, but a {raw['type']} event "
                f"carries {expected.__name__}",
                event_id=raw.get("id") if isinstance(raw.get("id"), str) else None,
            )
    return parse_school_event(raw)


def encode_school_event(event: SchoolEvent) -> bytes:
    return encode("school_event", school_event_to_avro(event))


def decode_school_event(data: bytes) -> SchoolEvent | EventRejected:
    try:
        record = decode("school_event", data)
    except DecodeError as error:
        return EventRejected(reason=error.reason)
    return school_event_from_avro(record)


def parse_json_line(line: str) -> SchoolEvent | EventRejected:
    """One JSON object (a line of NDJSON or an HTTP body) -> an event or a rejection.

    The event is returned as it will travel: payload keys the schema does not
    name are dropped here, so the edge and the topic see the same event.
    """
    if len(line) > MAX_LINE_CHARS:
        return EventRejected(reason=f"event is {len(line)} characters, over {MAX_LINE_CHARS}")
    try:
        raw = strict_json.loads(line)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        return EventRejected(reason=f"invalid JSON: {error}")
    event = parse_school_event(raw)
    if isinstance(event, EventRejected):
        return event
    record = school_event_to_avro(event)
    problem = _avro_problem(record, "event")
    if problem is not None:
        return EventRejected(reason=problem, event_id=_printable_id(event.id))
    return replace(event, data=record["data"][1])


def _avro_problem(value: Any, path: str) -> str | None:
    """What JSON can hold and Avro cannot: lone surrogates, integers past 64 bits."""
    if isinstance(value, str):
        return None if _utf8_encodable(value) else f"{path}: not valid Unicode text"
    if isinstance(value, int) and not isinstance(value, bool) and value not in _LONG_RANGE:
        return f"{path}: integer outside the 64-bit range"
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            # a key that is not valid text is shown escaped, so the reason stays writable
            label = key if _utf8_encodable(key) else repr(key)
            children += [(f"{path} key {label}", key), (f"{path}.{label}", item)]
    elif isinstance(value, (list, tuple)):
        children = [(path, item) for item in value]
    for child_path, child in children:
        problem = _avro_problem(child, child_path)
        if problem is not None:
            return problem
    return None


def _printable_id(event_id: str) -> str | None:
    return event_id if _utf8_encodable(event_id) else None


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _rfc3339(event: SchoolEvent) -> str:
    offset = event.occurred_at.utcoffset()
    # RFC 3339 offsets are whole minutes; a historical zone offset such as
    # +00:19:32 would not parse back, so such instants travel in UTC.
    if offset is not None and offset.total_seconds() % 60:
        return event.occurred_at.astimezone(timezone.utc).isoformat()
    return event.occurred_at.isoformat()
