"""A fast reader of Avro records with unions of records, maps and arrays: the school event.

Owns `NestedReader`: built once from a record schema of strings, longs,
doubles, booleans, enums, timestamp-millis, unions of null with one of those,
unions of those (a profile field's value), unions of records, maps and arrays
of them, it reads a body into the same value fastavro's `schemaless_reader`
gives with `return_record_name=True, return_record_name_override=True` (a
union of several records as `(record full name, dict)`), or None when the body
is not exactly one well-formed record of the schema: the caller then asks
fastavro, which says why. Each value is read by a function made for its schema:
closures, except that a record is one generated function with its string and
long fields read in line (as `schemas.flat_reader` reads a flat record) and
its other fields, a union's branches among them, called, so that no branch is
inlined many times over.

Why: the learner processor decodes every school event; fastavro's reader cost
5 - 6 us of each, most of it per call (bench/framing_cost.py).
"""

from __future__ import annotations

import struct
from typing import Any, Callable

# The primitives both readers read alike; this one adds what nested records hold besides.
from schemas.flat_reader import _LONG, _STRING, _Invalid, _boolean, _indent, _long, _string, _timestamp_millis

_unpack_double = struct.Struct("<d").unpack_from

Read = Callable[[bytes, int], tuple[Any, int]]


def _double(data: bytes, pos: int) -> tuple[float, int]:
    if pos + 8 > len(data):
        raise _Invalid
    return _unpack_double(data, pos)[0], pos + 8


def _null(data: bytes, pos: int) -> tuple[None, int]:
    return None, pos


_PRIMITIVES: dict[str, Read] = {"string": _string, "long": _long, "int": _long, "double": _double,
                                "boolean": _boolean, "null": _null}


def _enum(symbols: tuple[str, ...]) -> Read:
    def read(data: bytes, pos: int) -> tuple[str, int]:
        index, pos = _long(data, pos)
        if not 0 <= index < len(symbols):
            raise _Invalid
        return symbols[index], pos

    return read


def _blocks(read_item: Read, keyed: bool) -> Read:
    """A map (keyed) or an array: blocks of items, each block's count first, until a count of 0."""

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        items: Any = {} if keyed else []
        while True:
            count, pos = _long(data, pos)
            if count == 0:
                return items, pos
            if count < 0:  # a negative count is followed by the block's size in bytes
                count = -count
                _, pos = _long(data, pos)
            if count > len(data) - pos:  # every item takes a byte at least (no items of null)
                raise _Invalid
            for _ in range(count):
                if keyed:
                    key, pos = _string(data, pos)
                    items[key], pos = read_item(data, pos)
                else:
                    item, pos = read_item(data, pos)
                    items.append(item)

    return read


def _union(branches: list[Read]) -> Read:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        index, pos = _long(data, pos)
        if not 0 <= index < len(branches):
            raise _Invalid
        return branches[index](data, pos)

    return read


def _named(name: str, read_record: Read) -> Read:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        record, pos = read_record(data, pos)
        return (name, record), pos

    return read


# A record's string and long fields are read in line (the flat reader's templates), each
# other field by its function: a call per field cost as much as the field's decoding (the
# school event has six strings).


def _record(fields: list[tuple[str, Read]]) -> Read:
    """One generated function reading the fields in order into a dict of the same order."""
    helpers: dict[str, Any] = {"_long": _long, "_Invalid": _Invalid}
    lines, names = [], []
    for index, (name, read_field) in enumerate(fields):
        value = f"v{index}"
        if read_field is _string:
            lines.append(_STRING.format(v=value))
        elif read_field is _long:
            lines.append(_LONG.format(v=value))
        else:
            helpers[f"_read_{index}"] = read_field
            lines.append(f"\n{value}, pos = _read_{index}(data, pos)\n")
        names.append(f"{name!r}: {value}")
    code = "def read(data, pos):\n    size = len(data)\n" + _indent("".join(lines), 4)
    code += f"    return {{{', '.join(names)}}}, pos\n"
    exec(compile(code, "<nested reader's record>", "exec"), helpers)
    return helpers["read"]


def _full_name(schema: dict, namespace: str) -> str:
    name = schema["name"]
    space = schema.get("namespace", namespace)
    return name if "." in name or not space else f"{space}.{name}"


def _reader(schema: Any, namespace: str) -> Read:
    """The read of one value of `schema` (as JSON); ValueError for what this reader does not read."""
    if isinstance(schema, str):
        if schema not in _PRIMITIVES:
            raise ValueError(f"{schema}: not read here")
        return _PRIMITIVES[schema]
    if isinstance(schema, list):
        records = [branch for branch in schema if isinstance(branch, dict) and branch.get("type") == "record"]
        if records and len(records) != len(schema):
            raise ValueError("a union of records and other values")
        if len(records) == 1:
            raise ValueError("a union of one record")  # fastavro gives it without its name
        if any(isinstance(branch, list) for branch in schema):
            raise ValueError("a union in a union")
        if records:
            return _union([_named(_full_name(r, namespace), _reader(r, namespace)) for r in records])
        return _union([_reader(branch, namespace) for branch in schema])
    if not isinstance(schema, dict):
        raise ValueError("not a schema")
    kind = schema.get("type")
    if kind == "record":
        space = schema.get("namespace", namespace)
        return _record([(field["name"], _reader(field["type"], space)) for field in schema["fields"]])
    if kind == "enum":
        return _enum(tuple(schema["symbols"]))
    if kind in ("map", "array"):
        items = schema["values" if kind == "map" else "items"]
        if items == "null" or items == {"type": "null"}:
            raise ValueError(f"a {kind} of nulls")
        return _blocks(_reader(items, namespace), keyed=kind == "map")
    if kind == "long" and schema.get("logicalType") == "timestamp-millis":
        return _timestamp_millis
    if "logicalType" not in schema and isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise ValueError(f"{kind}: not read here")


class NestedReader:
    def __init__(self, schema: dict) -> None:
        """`schema`: the record's schema as JSON (not fastavro's parsed form)."""
        if schema.get("type") != "record":
            raise ValueError("not a record")
        self._read = _reader(schema, schema.get("namespace", ""))

    def read(self, data: bytes, start: int) -> dict | None:
        """The record whose body starts at `start` and ends with `data`; None if it is not one."""
        try:
            record, pos = self._read(data, start)
        except (_Invalid, IndexError, UnicodeDecodeError, OverflowError, RecursionError):
            return None
        return record if pos == len(data) else None
