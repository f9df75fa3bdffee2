"""The stored form of a `LearnerState`: one line of JSON, versioned, checked while decoded.

Owns `encode_state` and `decode_state`, one function per direction. Version 1
is the JSON object alone, as every release before the versions were named wrote
it (so a release rolled back reads what this one wrote); a later version N is
written `N\\t<JSON object>`. msgspec reads the JSON straight into the engine's
values, checking every field's type, and writes it back in field order: ~2.4 us
for a median state (bench/BENCHMARKS.md, "Engine values").

JSON and not msgpack: an instant keeps its UTC offset as written (msgpack's
timestamps are UTC only, and a learner's registration time, shown in condition
traces, carries the offset of the event it came from), and the entries written
before stay readable by the same decoder.

A state written before an upgrade is never lost: `DECODERS` keeps a decoder for
every version ever written. Changing what a field of `LearnerState` (or of the
runs and timers in it) holds changes `schema_fingerprint()`, and a test holds
the fingerprint of `VERSION` to the one recorded here: such a change is a new
version, with a decoder that turns the old form into the new.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Callable

import msgspec

from engine.learner import LearnerState

VERSION = 1
# The schema each version was written with (see schema_fingerprint).
FINGERPRINTS = {1: "19ae412af5ccd0b4"}

_decode_json = msgspec.json.Decoder(LearnerState).decode
_encode_json = msgspec.json.Encoder().encode
_PREFIX = b"" if VERSION == 1 else b"%d\t" % VERSION


def _decode_version_1(document: bytes | memoryview) -> LearnerState:
    try:
        return _decode_json(document)
    except msgspec.DecodeError:
        # A non-finite profile field is written as NaN or Infinity (as JSON parsers
        # in Python read it), which strict JSON and so msgspec refuse.
        return msgspec.convert(json.loads(bytes(document)), LearnerState, strict=False)


DECODERS: dict[int, Callable[[bytes], LearnerState]] = {1: _decode_version_1}


class UnknownStateVersion(Exception):
    """A state written by a newer release than this one: a programming error, never bad input."""


def encode_state(state: LearnerState) -> bytes:
    for value in state.fields.values():  # profile values are the only numbers a state holds
        if value.__class__ is float and value - value != 0.0:  # NaN or infinite
            # msgspec writes a non-finite number as null, which would change the field's value.
            return _PREFIX + json.dumps(msgspec.to_builtins(state), separators=(",", ":"), ensure_ascii=False).encode()
    return _PREFIX + _encode_json(state)


def decode_state(line: bytes) -> LearnerState:
    if line[:1] == b"{":
        return _decode_version_1(line)
    version, _, document = line.partition(b"\t")
    decoder = DECODERS.get(int(version))
    if decoder is None:
        raise UnknownStateVersion(f"learner state of version {int(version)}; this release reads up to {VERSION}")
    return decoder(document)


def schema_fingerprint() -> str:
    """What `LearnerState` and everything in it holds, field by field (names, types,
    defaults, as msgspec reads them), classes by name only: a digest that changes
    when a stored field does."""
    described = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", repr(msgspec.inspect.type_info(LearnerState)))
    return hashlib.sha256(described.encode()).hexdigest()[:16]
