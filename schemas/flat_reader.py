"""A fast reader of flat Avro records: the run-status records the projector folds.

Owns `FlatReader`: compiled once from a record schema whose fields are all
strings, longs, booleans, enums, timestamp-millis, or unions of null with one
of those (one generated function, the fields' reads inlined), it reads a body into the same dict fastavro's `schemaless_reader`
gives, or None when the body is not exactly one well-formed record of the
schema (the caller then asks fastavro, which says why). The projector decodes
every run-status record it folds, and fastavro's reader cost 10 us of each,
most of it per call, not per byte (bench/api_views.py --store).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


class _Invalid(Exception):
    pass


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint at `pos`: (value, next position)."""
    byte = data[pos]
    if byte < 0x80:  # under 64 either way: one byte, the common case
        return (byte >> 1) ^ -(byte & 1), pos + 1
    pos += 1
    n = byte & 0x7F
    shift = 7
    while byte & 0x80:
        if shift > 63:
            raise _Invalid
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
    if n >> 64:  # a tenth byte past the 64 bits of a long: fastavro wraps it, so it says what it is
        raise _Invalid
    return (n >> 1) ^ -(n & 1), pos


def _string(data: bytes, pos: int) -> tuple[str, int]:
    byte = data[pos]
    if byte < 0x80:  # a length under 64: one byte, the common case
        size, pos = (byte >> 1) ^ -(byte & 1), pos + 1
    else:
        size, pos = _long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise _Invalid
    return data[pos:end].decode(), end


def _boolean(data: bytes, pos: int) -> tuple[bool, int]:
    byte = data[pos]
    if byte > 1:
        raise _Invalid
    return byte == 1, pos + 1


def _timestamp_millis(data: bytes, pos: int) -> tuple[datetime, int]:
    ms, pos = _long(data, pos)
    return EPOCH + ms * _MS, pos


def _enum(symbols: list[str]) -> Callable:
    def read(data: bytes, pos: int) -> tuple[str, int]:
        index, pos = _long(data, pos)
        if not 0 <= index < len(symbols):
            raise _Invalid
        return symbols[index], pos

    return read


def _optional(read: Callable, null_first: bool) -> Callable:
    value_index = 1 if null_first else 0

    value_byte, null_byte = 2 * value_index, 2 * (1 - value_index)  # the branch index, one zig-zag byte

    def optional(data: bytes, pos: int) -> tuple[Any, int]:
        byte = data[pos]
        if byte == null_byte:
            return None, pos + 1
        if byte == value_byte:
            return read(data, pos + 1)
        raise _Invalid

    return optional


def _plain(schema: Any) -> Callable | None:
    if isinstance(schema, str):
        return {"string": _string, "long": _long, "int": _long, "boolean": _boolean}.get(schema)
    if isinstance(schema, dict):
        if schema.get("type") == "enum":
            return _enum(list(schema["symbols"]))
        if schema.get("type") == "long" and schema.get("logicalType") == "timestamp-millis":
            return _timestamp_millis
        if set(schema) == {"type"}:
            return _plain(schema["type"])
    return None


def _field_reader(schema: Any) -> Callable | None:
    if isinstance(schema, list):
        if len(schema) != 2 or "null" not in schema:
            return None
        other = schema[1] if schema[0] == "null" else schema[0]
        read = _plain(other)
        return None if read is None else _optional(read, schema[0] == "null")
    return _plain(schema)


# Source of one field's read, inlined into the record's reader (a call a field cost
# as much as its decoding): `{v}` is the value's name; `pos` the position, `size` the body's end.
_STRING = """
b = data[pos]
if b < 0x80:
    n = (b >> 1) ^ -(b & 1); pos += 1
else:
    n, pos = _long(data, pos)
end = pos + n
if n < 0 or end > size:
    raise _Invalid
{v} = data[pos:end].decode(); pos = end
"""
_LONG = """
b = data[pos]
if b < 0x80:
    {v} = (b >> 1) ^ -(b & 1); pos += 1
else:
    {v}, pos = _long(data, pos)
"""
_CALL = """
{v}, pos = {read}(data, pos)
"""
_OPTIONAL = """
b = data[pos]
if b == {null}:
    {v} = None; pos += 1
elif b == {value}:
    pos += 1{body}
else:
    raise _Invalid
"""


def _inline(schema: Any, name: str, helpers: dict) -> str | None:
    """The source reading one non-union value of `schema` into `name`, or None if not flat."""
    if schema == "string" or (isinstance(schema, dict) and set(schema) == {"type"} and schema["type"] == "string"):
        return _STRING.format(v=name)
    if schema in ("long", "int"):
        return _LONG.format(v=name)
    read = _plain(schema)
    if read is None:
        return None
    helper = f"_read_{len(helpers)}"
    helpers[helper] = read
    return _CALL.format(v=name, read=helper)


def _indent(source: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in source.strip("\n").split("\n"))


class FlatReader:
    def __init__(self, schema: dict) -> None:
        """`schema`: the record's schema as JSON (not fastavro's parsed form)."""
        helpers: dict[str, Callable] = {"_long": _long, "_Invalid": _Invalid}
        body, names = [], []
        for index, field in enumerate(schema["fields"]):
            value, kind = f"v{index}", field["type"]
            if isinstance(kind, list):
                if len(kind) != 2 or "null" not in kind:
                    raise ValueError(f"{field['name']}: not a flat field")
                null_first = kind[0] == "null"
                inner = _inline(kind[1] if null_first else kind[0], value, helpers)
                source = None if inner is None else _OPTIONAL.format(
                    v=value, null=0 if null_first else 2, value=2 if null_first else 0, body="\n" + _indent(inner, 4))
            else:
                source = _inline(kind, value, helpers)
            if source is None:
                raise ValueError(f"{field['name']}: not a flat field")
            body.append(source)
            names.append(f"{field['name']!r}: {value}")
        code = "def read(data, pos, size):\n" + _indent("".join(body), 4)
        code += f"    return {{{', '.join(names)}}}, pos\n"
        exec(compile(code, f"<flat reader of {schema.get('name', 'record')}>", "exec"), helpers)
        self._read = helpers["read"]

    def read(self, data: bytes, start: int) -> dict | None:
        """The record whose body starts at `start` and ends with `data`; None if it is not one."""
        try:
            record, pos = self._read(data, start, len(data))
        except (_Invalid, IndexError, UnicodeDecodeError, OverflowError):
            return None
        return record if pos == len(data) else None
