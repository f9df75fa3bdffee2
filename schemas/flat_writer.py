"""A fast writer of flat Avro records: the run-status, action and timer records a worker writes.

Owns `FlatWriter`: compiled once from a record schema whose fields are strings,
longs, doubles, booleans, enums, timestamp-millis, or unions of those with null
(one generated function, each field's write inlined), it writes a record dict
into the same bytes fastavro's `schemaless_writer` writes, or returns None when
the record is not plainly one of the schema: a value of another type than the
field's own (fastavro would convert an int for a double, a bool for a long...),
a naive datetime, an unknown field, a missing field without a default, text
that is not valid Unicode. The caller then asks fastavro, which writes what it
can and says why it cannot. The learner processor encodes one to four such
records per input; fastavro's writer cost 7 - 11 us of each, most of it per
call (bench/framing_cost.py), this one a third of that. `FlatReader` is its
counterpart for reading; tests/unit/test_flat_writer.py holds the two to
fastavro's bytes.
"""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any, Callable

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_MISSING = object()
# The varint of a zig-zag value under 128 (a non-negative n < 64 is 2n): one byte.
_SMALL = [bytes([n]) for n in range(128)]
_pack_double = struct.Struct("<d").pack


class _Unfit(Exception):
    pass


def _long(n: int) -> bytes:
    """A long's zig-zag varint."""
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise _Unfit
    n = (n << 1) ^ (n >> 63)
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _millis(instant: Any) -> int:
    """fastavro's timestamp-millis of an aware datetime: whole milliseconds, cut (not rounded)."""
    if type(instant) is not datetime or instant.tzinfo is None or instant.utcoffset() is None:
        raise _Unfit
    delta = instant - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


# Source of one value's write, inlined into the record's writer: `{v}` is the value's
# name; parts are appended to `out`. Each raises _Unfit for a value of another type.
_STRING = """
if type({v}) is not str:
    raise _Unfit
b = {v}.encode()
n = len(b)
out.append(_SMALL[n << 1] if n < 64 else _long(n))
out.append(b)
"""
_LONG = """
if type({v}) is not int:
    raise _Unfit
out.append(_SMALL[{v} << 1] if 0 <= {v} < 64 else _long({v}))
"""
_DOUBLE = """
if type({v}) is not float:
    raise _Unfit
out.append(_pack_double({v}))
"""
_BOOLEAN = """
if type({v}) is not bool:
    raise _Unfit
out.append(b"\\x01" if {v} else b"\\x00")
"""
_ENUM = """
if type({v}) is not str:
    raise _Unfit
i = {symbols}.get({v})
if i is None:
    raise _Unfit
out.append(_SMALL[i << 1])
"""
_TIMESTAMP_MILLIS = """
out.append(_long(_millis({v})))
"""
_PRIMITIVES = {"string": _STRING, "long": _LONG, "double": _DOUBLE, "boolean": _BOOLEAN}


def _kind(schema: Any) -> Any:
    """A field type's simple form: "string", "long", "double", "boolean", "timestamp-millis",
    ("enum", symbols) or "null"; None for anything else (records, maps, arrays, ints, floats...)."""
    if isinstance(schema, str):
        return schema if schema in ("string", "long", "double", "boolean", "null") else None
    if isinstance(schema, dict):
        if schema.get("type") == "enum" and set(schema) <= {"type", "name", "namespace", "symbols", "doc", "default", "aliases"}:
            return ("enum", tuple(schema["symbols"]))
        if schema.get("type") == "long" and schema.get("logicalType") == "timestamp-millis":
            return "timestamp-millis"
        if set(schema) == {"type"}:
            return _kind(schema["type"])
    return None


def _value_source(kind: Any, name: str, helpers: dict) -> str:
    if kind == "timestamp-millis":
        return _TIMESTAMP_MILLIS.format(v=name)
    if isinstance(kind, tuple):
        helper = f"_symbols_{len(helpers)}"
        helpers[helper] = {symbol: index for index, symbol in enumerate(kind[1])}
        return _ENUM.format(v=name, symbols=helper)
    return _PRIMITIVES[kind].format(v=name)


def _indent(source: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in source.strip("\n").split("\n"))


# Which Python type picks which branch of a union, as fastavro picks the first branch that
# validates: a bool is a boolean (never a long), an int a long, a float a double.
_BRANCH_TYPES = {"null": "type(None)", "boolean": "bool", "long": "int", "double": "float", "string": "str"}


def _union_source(branches: list, name: str, helpers: dict) -> str:
    kinds = [_kind(branch) for branch in branches]
    if any(kind is None for kind in kinds) or len(set(map(str, kinds))) != len(kinds):
        raise ValueError("not a flat union")
    if len(kinds) > 2:
        if any(isinstance(kind, tuple) or kind == "timestamp-millis" for kind in kinds):
            raise ValueError("a union of an enum or a timestamp with more than null")
        # fastavro takes an int or a bool for a double: a double before them would take them.
        if "double" in kinds and any(kinds.index(other) > kinds.index("double") for other in ("long", "boolean") if other in kinds):
            raise ValueError("a double before a long or a boolean in a union")
    elif "null" not in kinds:
        raise ValueError("a union of two values")
    source = ""
    for index, kind in enumerate(kinds):
        if kind == "null":
            test, body = f"{name} is None", ""
        elif len(kinds) > 2:
            test, body = f"type({name}) is {_BRANCH_TYPES[kind]}", _value_source(kind, name, helpers)
        else:
            test, body = "True", _value_source(kind, name, helpers)
        source += f"{'elif' if source else 'if'} {test}:\n    out.append(_SMALL[{index << 1}])\n" + (_indent(body, 4) if body else "")
    return source + "else:\n    raise _Unfit\n"


class FlatWriter:
    def __init__(self, schema: dict) -> None:
        """`schema`: the record's schema as JSON (not fastavro's parsed form)."""
        helpers: dict[str, Any] = {"_long": _long, "_millis": _millis, "_Unfit": _Unfit, "_SMALL": _SMALL,
                                   "_pack_double": _pack_double, "_MISSING": _MISSING}
        body = []
        names = []
        for index, field in enumerate(schema["fields"]):
            value, kind = f"v{index}", field["type"]
            default = f"_default_{index}"
            helpers[default] = field.get("default", _MISSING)
            body.append(f"{value} = record.get({field['name']!r}, {default})\n")
            if isinstance(kind, list):
                body.append(_union_source(kind, value, helpers))
            else:
                simple = _kind(kind)
                if simple is None or simple == "null":
                    raise ValueError(f"{field['name']}: not a flat field")
                body.append(_value_source(simple, value, helpers))
            names.append(field["name"])
        helpers["_NAMES"] = frozenset(names)
        code = ("def write(record):\n    if type(record) is not dict or not record.keys() <= _NAMES:\n        raise _Unfit\n"
                "    out = []\n" + _indent("".join(body), 4) + "    return b''.join(out)\n")
        exec(compile(code, f"<flat writer of {schema.get('name', 'record')}>", "exec"), helpers)
        self._write: Callable[[dict], bytes] = helpers["write"]

    def write(self, record: Any) -> bytes | None:
        """The record's Avro body, as fastavro writes it; None if it is not plainly one of the schema."""
        try:
            return self._write(record)
        except (_Unfit, UnicodeEncodeError):
            return None
