"""Ingest receipts: what processing one school event did, for the synchronous ingest.

An event produced with the `automations-receipt` header (the HTTP ingest
sets it when the caller waits, ruling 14) gets a receipt on the receipts
topic once the learner processor has run it: the runs it started, each as it
stands after running up to its first wait or end, and the actions emitted.
It is built from the same encoded outputs that were sent, so a re-delivered
event yields the same receipt. An event the worker refuses (dead-lettered)
gets a receipt too, with the reason, so a caller waiting on it is not left
waiting for a receipt that never comes.
"""

from __future__ import annotations

import json
from datetime import datetime

from engine.catalog import Catalog
from schemas.codec import DecodeError, decode, encode

RECEIPT_HEADER = "automations-receipt"


def wants_receipt(headers) -> bool:
    if not headers:
        return False
    items = headers.items() if hasattr(headers, "items") else headers
    return any(key == RECEIPT_HEADER for key, _ in items)


def receipt_record(event, outputs: list[tuple[str, bytes]], catalog: Catalog, at: datetime) -> bytes:
    runs: dict[str, dict] = {}
    actions = []
    for audience, value in outputs:
        if audience == "actions":
            action = decode("action", value)
            actions.append({**action, "at": action["at"].isoformat()})
        elif audience == "run_status":
            record = decode("run_status", value)
            if record["kind"] == "run_started":
                automation = catalog.get(record["automation_id"])
                runs[record["run_id"]] = {
                    "run_id": record["run_id"],
                    "automation_id": record["automation_id"],
                    "mode": automation.mode if automation else "asynchronous",
                    "status": "executing",
                }
            elif record["kind"] == "run_status_changed" and record.get("run_id") in runs:
                runs[record["run_id"]]["status"] = record["status"]
    return encode(
        "receipt",
        {
            "event_id": event.id,
            "school": event.school,
            "user": event.user,
            "at": at,
            "runs": list(runs.values()),
            "actions_json": json.dumps(actions, sort_keys=True),
        },
    )


def refusal_receipt(message, reason: str, at: datetime) -> bytes:
    """The receipt of a refused event: whatever of its id and learner can be read."""
    key = message.key.decode("utf-8", "replace") if isinstance(message.key, bytes) else ""
    school, _, user = key.partition(":")
    try:
        event_id = decode("school_event", message.value)["id"]
    except (DecodeError, TypeError, KeyError):
        event_id = ""
    return encode(
        "receipt",
        {"event_id": event_id, "school": school, "user": user, "at": at, "dead_lettered": reason},
    )
