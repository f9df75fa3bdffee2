"""JSON as every edge reads it: standard JSON and one meaning per text.

Python's reader also takes `NaN` and `Infinity`, and keeps the last of two equal
keys, so `{"user": "a", "user": "b"}` would be user b here and user a to a
reader that keeps the first. Both are refused with a reason (a `ValueError`).
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)


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
