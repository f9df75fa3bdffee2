"""Avro framing for every topic: which schema, which bytes, and how to read them back.

Owns the topic kinds, the registry of shipped schema versions and the two
framings a value may have, told apart by its first byte:

- Avro single-object encoding (the default): 0xC3 0x01, the 8-byte
  little-endian CRC-64-AVRO fingerprint of the writer schema's parsing
  canonical form, then the Avro binary body.
- The Confluent wire format, written when a Schema Registry is in use
  (`use_schema_registry`, see `schemas.confluent`): 0x00, the 4-byte
  big-endian schema id the registry gave the writer schema, then the body.
  This is what analysts' tools (kafka-avro-console-consumer, ksqlDB, Kafka
  Connect, Flink, kcat) read.

Both name the writer schema, so a reader always resolves the record from the
version it was written with into the latest version of its kind (fastavro
schema resolution; new fields get their defaults). Readers take both framings
whichever one this process writes, so a running installation can switch.

`registry.json` maps the fingerprint of every shipped version to its `.avsc`
file; a shipped file whose fingerprint no longer matches is refused at import,
because records already on the topics were written with the old one.
Decoding untrusted bytes raises only `DecodeError`, with a one-line reason.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Protocol, get_args

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from schemas.flat_reader import FlatReader
from schemas.flat_writer import FlatWriter
from schemas.nested_reader import NestedReader

TopicKind = Literal[
    "school_event", "definition", "control", "timer", "action", "run_status", "dead_letter", "receipt"
]
TOPIC_KINDS: tuple[TopicKind, ...] = get_args(TopicKind)

MAGIC = b"\xc3\x01"
HEADER_LENGTH = len(MAGIC) + 8
CONFLUENT_MAGIC = b"\x00"
CONFLUENT_HEADER_LENGTH = len(CONFLUENT_MAGIC) + 4
SCHEMA_DIR = Path(__file__).parent
_FILE_NAME = re.compile(r"^(?P<kind>[a-z_]+)\.v(?P<version>\d+)\.avsc$")
_MAX_REASON = 300


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _describe(error: Exception) -> str:
    # Without the addresses of objects that fastavro names (`from <_io.BytesIO object at
    # 0x7f...>`): the same bytes are refused with the same reason, in every process.
    return _ADDRESS.sub("", f"{type(error).__name__}: {error}") if str(error) else type(error).__name__


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


class DecodeError(ValueError):
    """Bytes that are not a record of the expected kind; `reason` is one line."""

    def __init__(self, reason: str) -> None:
        self.reason = _one_line(reason)
        super().__init__(self.reason)


class EncodeError(ValueError):
    """A record that does not fit its schema: a programming error in the caller."""

    def __init__(self, reason: str) -> None:
        self.reason = _one_line(reason)
        super().__init__(self.reason)


@dataclass(frozen=True)
class SchemaVersion:
    kind: TopicKind
    version: int
    schema: dict[str, Any]  # parsed by fastavro
    fingerprint: bytes  # 8 bytes, as they appear on the wire
    source: str = field(default="", repr=False, compare=False)  # the .avsc text, as a registry is given it

    @classmethod
    def load(cls, path: Path) -> SchemaVersion:
        """Load `<kind>.v<N>.avsc`; the name says which kind and version it is."""
        match = _FILE_NAME.match(path.name)
        if match is None or match["kind"] not in TOPIC_KINDS:
            raise ValueError(f"{path.name}: expected <topic kind>.v<N>.avsc")
        source = path.read_text(encoding="utf-8")
        schema = parse_schema(json.loads(source))
        return cls(
            kind=match["kind"],  # type: ignore[arg-type]  # checked above
            version=int(match["version"]),
            schema=schema,
            fingerprint=schema_fingerprint(schema),
            source=source,
        )

    @property
    def label(self) -> str:
        return f"{self.kind} v{self.version}"


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """CRC-64-AVRO of the parsing canonical form, little-endian as on the wire."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class Registry:
    """The schema versions a process can read; it writes the latest of each kind."""

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        self._by_kind: dict[str, list[SchemaVersion]] = {}
        for version in versions:
            self._by_fingerprint[version.fingerprint] = version
            self._by_kind.setdefault(version.kind, []).append(version)
        for history in self._by_kind.values():
            history.sort(key=lambda v: v.version)
        # The latest versions of flat kinds (run-status: every record the projector folds)
        # are read by a compiled reader first, of nested ones (the school event, every input
        # of the learner processor) by a reader made of closures; fastavro reads what they do not.
        self._readers: dict[bytes, FlatReader | NestedReader] = {}
        # Flat kinds are written likewise (run-status, action and timer: the learner processor's outputs).
        self._flat_writers: dict[bytes, FlatWriter] = {}
        for history in self._by_kind.values():
            if history[-1].source:
                for compiled, kinds in ((self._readers, (FlatReader, NestedReader)), (self._flat_writers, (FlatWriter,))):
                    for kind in kinds:
                        try:
                            compiled[history[-1].fingerprint] = kind(json.loads(history[-1].source))
                            break
                        except ValueError:
                            pass

    def versions(self, kind: TopicKind) -> list[SchemaVersion]:
        return list(self._by_kind.get(kind, []))

    def latest(self, kind: TopicKind) -> SchemaVersion:
        return self._by_kind[kind][-1]

    def encode(self, kind: TopicKind, record: dict[str, Any], version: int | None = None) -> bytes:
        """Frame `record` with the latest schema of `kind` (or an older `version`)."""
        writer = self.latest(kind) if version is None else self._version(kind, version)
        return MAGIC + writer.fingerprint + self._body(writer, record)

    def encode_confluent(self, kind: TopicKind, record: dict[str, Any], schema_id: int) -> bytes:
        """`record` in the latest schema of `kind`, framed with the id a registry gave that schema."""
        return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big") + self._body(self.latest(kind), record)

    def by_fingerprint(self, fingerprint_bytes: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(fingerprint_bytes)

    def _body(self, writer: SchemaVersion, record: dict[str, Any]) -> bytes:
        flat = self._flat_writers.get(writer.fingerprint)
        if flat is not None:
            written = flat.write(record)
            if written is not None:
                return written
        body = io.BytesIO()
        try:
            # strict_allow_default: a misspelled or unknown field is an error,
            # a left-out optional one takes its default.
            fastavro.schemaless_writer(body, writer.schema, record, strict_allow_default=True)
        except Exception as error:  # fastavro raises many types; all mean "does not fit"
            raise EncodeError(f"{writer.label}: {_describe(error)}") from error
        return body.getvalue()

    def compiled_latest(self, kind: TopicKind) -> tuple[bytes, FlatReader | NestedReader] | None:
        """The single-object header of `kind`'s latest schema and its compiled reader, if it has one."""
        history = self._by_kind.get(kind)
        if not history:
            return None
        latest = history[-1]
        compiled = self._readers.get(latest.fingerprint)
        return None if compiled is None else (MAGIC + latest.fingerprint, compiled)

    def decode(self, kind: TopicKind, data: Any, ids: SchemaIds | None = None) -> dict[str, Any]:
        """Read a framed record of `kind` into the latest schema; bad bytes raise DecodeError.

        Either framing is read; the Confluent one needs `ids` (the registry's
        schema ids), which may raise `schemas.confluent.RegistryUnavailable`
        when it cannot ask: the record is then not refused, only not read yet.
        A union of several records (school event payloads) comes back as
        `(record full name, dict)`, the same form `encode` accepts.
        """
        writer, start = self._writer_of(kind, data, ids)
        reader = self.latest(kind)
        compiled = self._readers.get(writer.fingerprint) if writer is reader else None
        if compiled is not None:
            record = compiled.read(bytes(data), start)
            if record is not None:
                return record
        body = io.BytesIO(bytes(data[start:]))
        try:
            record = fastavro.schemaless_reader(
                body,
                writer.schema,
                None if writer is reader else reader.schema,
                return_record_name=True,
                return_record_name_override=True,
            )
        except Exception as error:  # untrusted bytes: any failure is a refusal
            raise DecodeError(f"undecodable {writer.label} body: {_describe(error)}") from None
        trailing = len(body.getbuffer()) - body.tell()
        if trailing:
            raise DecodeError(f"{trailing} bytes left after the {writer.label} record")
        return record

    def _version(self, kind: TopicKind, version: int) -> SchemaVersion:
        for candidate in self._by_kind.get(kind, []):
            if candidate.version == version:
                return candidate
        raise KeyError(f"no {kind} schema version {version}")

    def _writer_of(self, kind: TopicKind, data: Any, ids: SchemaIds | None) -> tuple[SchemaVersion, int]:
        """The writer schema the framing names, and where the body starts."""
        if data is None:
            raise DecodeError("no value (null)")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        if bytes(data[:1]) == CONFLUENT_MAGIC:
            writer, start = self._confluent_writer(data, ids), CONFLUENT_HEADER_LENGTH
        else:
            writer, start = self._single_object_writer(data), HEADER_LENGTH
        if writer.kind != kind:
            raise DecodeError(f"written with the {writer.label} schema, expected {kind}")
        return writer, start

    def _single_object_writer(self, data: Any) -> SchemaVersion:
        if len(data) < HEADER_LENGTH:
            raise DecodeError(f"{len(data)} bytes is too short for an Avro single-object header")
        if bytes(data[:2]) != MAGIC:
            raise DecodeError(
                "not Avro single-object encoding (c301) nor the Confluent wire format (00): "
                f"starts with {bytes(data[:2]).hex()}"
            )
        fingerprint_bytes = bytes(data[2:HEADER_LENGTH])
        writer = self._by_fingerprint.get(fingerprint_bytes)
        if writer is None:
            raise DecodeError(f"unknown writer schema, fingerprint {fingerprint_bytes.hex()}")
        return writer

    def _confluent_writer(self, data: Any, ids: SchemaIds | None) -> SchemaVersion:
        if len(data) < CONFLUENT_HEADER_LENGTH:
            raise DecodeError(f"{len(data)} bytes is too short for a Confluent wire format header")
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_LENGTH], "big")
        if ids is None:
            raise DecodeError(
                f"Confluent wire format (schema id {schema_id}), but no schema registry is "
                "configured to look the id up (AUTOMATIONS_SCHEMA_REGISTRY_URL)"
            )
        return ids.version_of(schema_id)


class SchemaIds(Protocol):
    """A Schema Registry's ids for the shipped versions (`schemas.confluent.SchemaRegistryIds`)."""

    def writer_id(self, kind: TopicKind) -> int:
        """The id of the latest version of `kind`, registered under its topics' subjects."""

    def version_of(self, schema_id: int) -> SchemaVersion:
        """The shipped version a schema id names; DecodeError when it names none."""


def load_shipped(schema_dir: Path = SCHEMA_DIR) -> Registry:
    """The versions listed in registry.json, each checked against its file."""
    listed: dict[str, str] = json.loads((schema_dir / "registry.json").read_text("utf-8"))
    versions = []
    for expected, file_name in listed.items():
        version = SchemaVersion.load(schema_dir / file_name)
        if version.fingerprint.hex() != expected:
            raise RuntimeError(
                f"{file_name} changed after it shipped (fingerprint "
                f"{version.fingerprint.hex()}, registry.json says {expected}); "
                "ship the change as a new version instead"
            )
        versions.append(version)
    return Registry(versions)


SHIPPED = load_shipped()

# The process's framing: None writes single-object encoding; a registry's ids write the
# Confluent wire format. Set once from the settings (`processors.config.load`).
_registry_ids: SchemaIds | None = None


def use_schema_registry(ids: SchemaIds | None) -> None:
    """Write the Confluent wire format with these ids from now on (None: single-object)."""
    global _registry_ids
    _registry_ids = ids


def schema_registry() -> SchemaIds | None:
    return _registry_ids


def encode(topic_kind: TopicKind, record: dict[str, Any]) -> bytes:
    ids = _registry_ids
    if ids is None:
        return SHIPPED.encode(topic_kind, record)
    return SHIPPED.encode_confluent(topic_kind, record, ids.writer_id(topic_kind))


# Per kind whose latest schema has a compiled reader: its single-object header and the reader.
_COMPILED_LATEST = {kind: compiled for kind in TOPIC_KINDS if (compiled := SHIPPED.compiled_latest(kind)) is not None}


def decode(topic_kind: TopicKind, data: bytes) -> dict[str, Any]:
    # The usual record, written with the latest schema in single-object encoding, straight to its
    # compiled reader: what `Registry.decode` would do after checking the framing step by step
    # (~1 us of the learner processor's 4 us per school event). Anything else, a body the reader
    # refuses included, takes that way, which says why.
    compiled = _COMPILED_LATEST.get(topic_kind)
    if compiled is not None and type(data) is bytes and data.startswith(compiled[0]):
        record = compiled[1].read(data, HEADER_LENGTH)
        if record is not None:
            return record
    return SHIPPED.decode(topic_kind, data, _registry_ids)
