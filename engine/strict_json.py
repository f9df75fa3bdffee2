"""JSON as every edge reads it: standard JSON and one meaning per text.

Python's reader also takes `NaN` and `Infinity`, and keeps the last of two equal
keys, so `{"user": "a", "user": "b"}` would be user b here and user a to a
reader that keeps the first. Both are refused with a reason (a `ValueError`).
"""

from __future__ import annotations

import json
import re
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*")


class TooMany(ValueError):
    """A JSON list with more items than the reader takes; `count` is how many at least."""

    def __init__(self, count: int) -> None:
        super().__init__(f"more than {count - 1} items")
        self.count = count


def loads(text: str | bytes) -> Any:
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)


def items(text: str, limit: int) -> list[Any]:
    """The items of a JSON list, or the one value the text holds, read one item at a time
    and stopping at item `limit + 1` (TooMany): a body of millions of `{}` costs no more
    than `limit` of them."""
    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    position = _WHITESPACE.match(text, 0).end()
    if not text.startswith("[", position):
        return [loads(text)]
    found: list[Any] = []
    position = _WHITESPACE.match(text, position + 1).end()
    if text.startswith("]", position):
        return _alone(text, position + 1, found)
    while True:
        if len(found) == limit:
            raise TooMany(limit + 1)
        item, position = decoder.raw_decode(text, position)
        found.append(item)
        position = _WHITESPACE.match(text, position).end()
        if text.startswith("]", position):
            return _alone(text, position + 1, found)
        if not text.startswith(",", position):
            raise ValueError(f"expected ',' or ']' at character {position}")
        position = _WHITESPACE.match(text, position + 1).end()


def _alone(text: str, position: int, found: list[Any]) -> list[Any]:
    if _WHITESPACE.match(text, position).end() != len(text):
        raise ValueError(f"extra data at character {position}")
    return found


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return mapping


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
