"""Which dead letters `automations dead-letters resend` sends again (console.dead_letters).

Given dead letters as workers write them, then a school event the current code
accepts under its own key is sendable; one from another topic, one cut short
(oversized), one with no bytes, and one the current code still refuses are
not, each with a reason an operator understands; filters pick by reason text
and by source position.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from console.dead_letters import DeadLetter, _matching, choose, refusal_today, why_not_sendable
from console.errors import CliError
from engine.school_events import SchoolEvent
from processors.dead_letters import MAX_VALUE_KEPT
from schemas.codec import encode
from schemas.school_events import school_event_to_avro

TOPIC = "t.school-events"
AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
EVENT = SchoolEvent(id="e1", type="user.tag_added", school="s1", user="u1", occurred_at=AT, data={"tag": "new"})
GOOD = encode("school_event", school_event_to_avro(EVENT))


def letter(value: bytes = GOOD, key: str | None = "s1:u1", source: str = TOPIC, reason: str = "unknown writer schema",
           offset: int = 4) -> DeadLetter:
    return DeadLetter(0, offset, {"reason": reason, "source_topic": source, "partition": 1, "offset": offset,
                                  "key": key, "value": value, "received_at": AT})


def why(item: DeadLetter) -> str | None:
    return why_not_sendable(item, TOPIC, refusal_today(TOPIC))


def test_an_event_the_current_code_accepts_under_its_own_key_is_sendable():
    assert why(letter()) is None


def test_what_cannot_or_should_not_be_sent_says_why():
    assert "not the school-events topic" in why(letter(source="t.delays"))
    assert "only the start of the input was kept" in why(letter(reason="too big (dead letter keeps the first 65536 of 70000 bytes)"))
    assert "only the start" in why(letter(value=b"x" * (MAX_VALUE_KEPT + 1)))
    assert "no bytes were kept" in why(letter(value=b"", reason="rejected: s1:u2 sent to the state of s1:u1"))
    assert why(letter(value=b'{"id": "e1"')).startswith("still refused: undecodable school event")
    assert "does not match the record's school:user" in why(letter(key="s1:someone-else"))
    assert "does not match" in why(letter(key=None))


def test_filters_pick_by_reason_text_and_by_source_position():
    letters = [letter(reason="unknown writer schema", offset=4), letter(reason="unknown event type 'x'", offset=5)]

    assert [item.offset for item in _matching(letters, "event type", [])] == [5]
    assert [item.offset for item in _matching(letters, None, ["1/4"])] == [4]
    assert _matching(letters, None, []) == letters


def test_an_input_with_two_dead_letters_is_sent_once():
    first, again = letter(offset=4), DeadLetter(3, 9, letter(offset=4).record)  # refused again on a replay
    other = letter(offset=5)

    chosen, left = choose([first, again, other], TOPIC, refusal_today(TOPIC))

    assert chosen == [first, other]
    assert left == [(again, "another dead letter of the same input is sent")]


def test_an_input_position_is_read_as_numbers():
    letters = [letter(offset=100)]

    assert _matching(letters, None, ["01/100"]) == letters
    with pytest.raises(CliError, match="--input takes PARTITION/OFFSET"):
        _matching(letters, None, ["1/\u0661"])  # an Arabic-Indic digit
