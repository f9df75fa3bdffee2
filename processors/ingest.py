"""The JSON edge: school events as platforms and operators hand them to us.

Owns reading JSONL (every bad line reported with its number, nothing sent
when any line is bad) and writing valid events, Avro-encoded and keyed
`school:user`, to the school-events topic. The CLI's `events send` and the
HTTP ingest endpoint both come through here, so both validate alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.school_events import EventRejected, SchoolEvent
from processors.config import Settings
from processors.kafka_io import produce
from processors.receipts import RECEIPT_HEADER
from processors.records import size_problem
from schemas.codec import encode
from schemas.school_events import parse_json_line, school_event_to_avro


@dataclass(frozen=True)
class LineProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def edge_event(line: str) -> SchoolEvent | EventRejected:
    """A JSON event as every edge takes it (HTTP, `events send`, `simulate`): the contract,
    then the size limit the worker applies (processors.records.MAX_EVENT_BYTES)."""
    parsed = parse_json_line(line)
    if isinstance(parsed, EventRejected):
        return parsed
    too_big = size_problem(encode_event(parsed)[1])
    return EventRejected(reason=too_big, event_id=parsed.id) if too_big is not None else parsed


def read_jsonl(path: Path) -> tuple[list[SchoolEvent], list[LineProblem]]:
    """Parse every non-blank line; returns the events and the problems, never raises on content."""
    events: list[SchoolEvent] = []
    problems: list[LineProblem] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parsed = edge_event(line)
            if isinstance(parsed, EventRejected):
                problems.append(LineProblem(number, parsed.reason))
            else:
                events.append(parsed)
    return events, problems


def encode_event(event: SchoolEvent) -> tuple[str, bytes]:
    return event.key, encode("school_event", school_event_to_avro(event))


async def send_events(settings: Settings, events: list[SchoolEvent], want_receipts: bool = False) -> int:
    """Write events to the school-events topic; returns once the broker has them all.

    `want_receipts` asks the worker for a receipt per event (processors.receipts).
    """
    headers = [(RECEIPT_HEADER, b"1")] if want_receipts else None
    return await produce(settings, settings.topics.school_events, map(encode_event, events), headers=headers)
