"""Dead-letter records: the one way bad input leaves the stream.

Nothing is dropped silently: whatever cannot be decoded or is refused goes to
the dead-letter topic with the reason, its origin (topic, partition, offset)
and the original bytes, so an operator can inspect and replay it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from schemas.codec import encode


def dead_letter_record(message, reason: str, received_at: datetime | None = None) -> bytes:
    """Encode a dead letter for a consumed Faust/aiokafka message."""
    key = message.key
    return encode(
        "dead_letter",
        {
            "reason": reason,
            "source_topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
            "value": message.value if isinstance(message.value, bytes) else b"",
            "received_at": received_at or datetime.now(timezone.utc),
        },
    )
