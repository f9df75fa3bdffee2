"""Walking a nested JSON-like value (mappings and lists) without recursion, in document order.

JSON nests up to ~1,000 levels deep, past what a recursive walk can take on a
worker's already deep stack. The school-event contract and the definitions'
document check both walk their input with `walk`.
"""

from __future__ import annotations

from collections.abc import Mapping  # not typing's alias: its isinstance takes three calls more
from typing import Any, Callable, Iterator


def walk(value: Any, path: str, key_path: Callable[[str, Any], str],
         max_depth: int) -> Iterator[tuple[Any, str, int]]:
    """`value` and everything inside it, each with its path and depth (0 for `value`),
    parents before children, in document order. `key_path(path, key)` names a mapping's
    child; a list's is `path[index]`. A mapping or list at `max_depth` is given but not
    entered."""
    pending: list[tuple[Any, str, int]] = [(value, path, 0)]
    while pending:
        item, where, depth = pending.pop()
        yield item, where, depth
        if depth >= max_depth:
            continue
        if isinstance(item, Mapping):
            children = [(child, key_path(where, key), depth + 1) for key, child in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item)]
        else:
            continue
        pending.extend(reversed(children))


def is_container(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple))
