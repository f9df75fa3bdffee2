"""Dead-letter records: the one way bad input leaves the stream.

Nothing is dropped silently: whatever cannot be decoded or is refused goes to
the dead-letter topic with the reason, its origin (topic, partition, offset)
and the original bytes (up to 64 KiB), so an operator can inspect it and,
once the cause is fixed, send it again (`automations dead-letters`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from schemas.codec import encode


# Original bytes kept in a dead letter. An input near Kafka's message size limit
# plus the dead letter's own fields would be too large to send, and a dead letter
# that cannot be sent stops the stream it was meant to protect; the whole input
# stays in its source topic at the offset the dead letter names.
MAX_VALUE_KEPT = 64 * 1024


def dead_letter_record(message, reason: str, received_at: datetime | None = None) -> bytes:
    """Encode a dead letter for a consumed input (anything with topic, partition, offset, key, value)."""
    key = message.key
    value = message.value if isinstance(message.value, bytes) else b""
    if len(value) > MAX_VALUE_KEPT:
        reason = f"{reason} (dead letter keeps the first {MAX_VALUE_KEPT} of {len(value)} bytes)"
        value = value[:MAX_VALUE_KEPT]
    return encode(
        "dead_letter",
        {
            "reason": reason,
            "source_topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
            "value": value,
            "received_at": received_at or datetime.now(timezone.utc),
        },
    )
