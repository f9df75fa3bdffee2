"""`automations decode KIND`: Avro records from a Kafka tool on stdin, JSON lines out.

Owns reading framed values from a byte stream: `--format kcat` (default)
reads what `kcat -C ... -f '%S %s'` writes, each value prefixed by its
length (safe for binary Avro, which may hold any byte, newlines included);
`--format base64` reads one base64 value per line. Each record is decoded
with its writer schema (`schemas.codec`) and printed as one JSON object; an
undecodable one is reported on stderr with its number and the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import BinaryIO, Iterator

import typer

from console.errors import CliError
from processors import config
from schemas.codec import TOPIC_KINDS, DecodeError, decode

# Far above Kafka's own limits (message.max.bytes is 1 MiB by default).
MAX_RECORD_BYTES = 2**31 - 1


class FramingError(Exception):
    """The input is not in the announced framing; the message says where."""


def kcat_values(stream: BinaryIO) -> Iterator[bytes | None]:
    """Values of `kcat -f '%S %s'`: decimal length, a space, that many bytes (-1: null)."""
    number = 0
    while True:
        digits = b""
        while True:
            char = stream.read(1)
            if not char:
                if digits.strip():
                    raise FramingError(f"record {number + 1}: input ends inside a length")
                return
            if char == b" ":
                break
            digits += char
        number += 1
        text = digits.strip().decode("ascii", errors="replace")
        try:
            length = int(text)
        except ValueError:
            raise FramingError(f"record {number}: expected a length, got {text[:20]!r} (use kcat -f '%S %s')") from None
        if length < 0:
            yield None
            continue
        if length > MAX_RECORD_BYTES:  # reading it would only try to allocate it
            raise FramingError(f"record {number}: a length of {length} bytes, more than any Kafka record holds")
        value = stream.read(length)
        if len(value) < length:
            raise FramingError(f"record {number}: input ends after {len(value)} of {length} bytes")
        yield value


def base64_values(stream: BinaryIO) -> Iterator[bytes | None]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield base64.b64decode(line.strip(), validate=True)
        except binascii.Error as error:
            raise FramingError(f"line {number}: not base64: {error}") from None


def _kind(name: str) -> str:
    kind = name.replace("-", "_")
    if kind not in TOPIC_KINDS:
        raise CliError(f"unknown kind {name!r}; one of {', '.join(k.replace('_', '-') for k in TOPIC_KINDS)}")
    return kind


def decode_stdin(
    kind: str = typer.Argument(..., help="run-status, school-event, action, definition, control, timer, dead-letter, receipt."),
    framing: str = typer.Option("kcat", "--format", help="kcat (kcat -f '%S %s') or base64 (one value per line)."),
) -> None:
    """Decode Avro values from a Kafka tool on stdin (kcat -f '%S %s') into JSON lines."""
    topic_kind = _kind(kind)
    config.load()  # Confluent-framed values need AUTOMATIONS_SCHEMA_REGISTRY_URL's registry
    if framing not in ("kcat", "base64"):
        raise CliError(f"--format must be kcat or base64; got {framing!r}")
    values = kcat_values(sys.stdin.buffer) if framing == "kcat" else base64_values(sys.stdin.buffer)
    bad = 0
    try:
        for number, value in enumerate(values, start=1):
            if value is None:
                continue  # a tombstone (compacted topics): no record
            try:
                record = decode(topic_kind, value)
            except DecodeError as error:
                bad += 1
                typer.echo(f"record {number}: {error.reason}", err=True)
                continue
            typer.echo(json.dumps(record, default=_plain, sort_keys=True))
    except FramingError as error:
        raise CliError(str(error)) from None
    if bad:
        raise CliError(f"{bad} record(s) could not be decoded")


def _plain(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def register(app: typer.Typer) -> None:
    app.command("decode")(decode_stdin)
