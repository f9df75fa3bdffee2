"""The kind of value the engine is made of, and its one plain view for the edges.

Owns `Value`, the base of every command, event, school event, learner state,
run and timer: a frozen msgspec Struct, built with keywords, out of the cyclic
collector's sight (values never refer back to what holds them). It builds in a
quarter of the time of the engine's fastest pydantic path and reads attributes
as a slotted class does (bench/BENCHMARKS.md, "Engine values"); the engine builds ~10 per
run. Values are built from values the engine already holds and are not
validated: validation belongs to the edges, where documents and records come
in (the school-event contract, the Avro schemas, the learner-state codec).

Tagged values (events, commands) carry their `type` as a class attribute and,
when encoded, as the first key, as the documents they once were did.
`as_dict` is the view the edges read (records, reports): every field by name,
nested values as dicts, the `type` first; `as_json` the same as JSON-ready
builtins (instants as RFC 3339 text, tuples and sets as lists), and
`from_json` its inverse, which checks every field's type.
"""

from __future__ import annotations

from typing import Any, Callable

import msgspec

replace = msgspec.structs.replace


class Value(msgspec.Struct, frozen=True, gc=False):
    """An immutable engine value: change it with `replace`. Each value class says
    `kw_only=True` itself (msgspec applies it to the fields a class declares), so
    values are built with keywords, fields with defaults in any place."""


def as_dict(value: Value) -> dict[str, Any]:
    """Every field by name (the `type` first for a tagged value), nested values as dicts."""
    config = value.__struct_config__
    plain: dict[str, Any] = {} if config.tag is None else {config.tag_field: config.tag}
    for name in value.__struct_fields__:
        plain[name] = _plain(getattr(value, name))
    return plain


def _plain(item: Any) -> Any:
    if isinstance(item, Value):
        return as_dict(item)
    if isinstance(item, dict):
        return {key: _plain(inner) for key, inner in item.items()}
    if isinstance(item, list):
        return [_plain(inner) for inner in item]
    if isinstance(item, tuple):
        return tuple(_plain(inner) for inner in item)
    return item


plain = _plain  # the plain view of anything a value holds: nested values as dicts, as `as_dict` makes them


def as_json(value: Value) -> dict[str, Any]:
    """`as_dict`, JSON-ready: what the value reads as in a JSON document."""
    return msgspec.to_builtins(value)


def from_json(kind: Any, document: Any) -> Any:
    """The value of type `kind` (a value class or a union of them) that `as_json` gave `document`."""
    return msgspec.convert(document, kind, strict=False)


def json_codec(kind: Any) -> tuple[Callable[[Any], bytes], Callable[[bytes | str], Any]]:
    """(encode, decode) of JSON text for values of `kind`, as `as_json` and `from_json` read them."""
    return msgspec.json.Encoder().encode, msgspec.json.Decoder(kind).decode
