"""A Schema Registry's ids for the shipped schemas: registered once, cached, then free.

Owns the talk with a Confluent-compatible Schema Registry, through
confluent-kafka's own `SchemaRegistryClient`. `prepare` registers every
shipped version of every kind, oldest first, under the topic-name subject
(`<topic>-value`) of each topic of that kind, with BACKWARD compatibility:
registering is idempotent, so every process does it at start and learns the
ids. After that a record costs a dict lookup, never a request (`writer_id`,
`version_of`). An id not met before (a schema another producer registered) is
asked for once and cached, refused or not.

When the registry cannot be reached, a call that needs it raises
`RegistryUnavailable` with the reason, which is not a `DecodeError`: the record
is not refused, only not read or written yet (the stream task aborts its batch
and reads it again; the API answers 503). For `RETRY_AFTER_SECONDS` after a
failure, such calls fail at once rather than each wait out the client's timeout.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Callable, Iterable, Mapping

from fastavro.schema import parse_schema

from schemas.codec import SHIPPED, DecodeError, Registry, SchemaVersion, TopicKind, schema_fingerprint

RETRY_AFTER_SECONDS = 5.0
# Short: a worker or API waiting on an absent registry says so instead of hanging.
CLIENT_CONFIG = {"timeout": 5, "max.retries": 1, "retries.wait.ms": 200, "retries.max.wait.ms": 1000}


class RegistryUnavailable(Exception):
    """The Schema Registry did not answer (or answered an error that is not about the schema)."""


def subject(topic: str) -> str:
    """Confluent's TopicNameStrategy, the default of every tool that reads the topics."""
    return f"{topic}-value"


class SchemaRegistryIds:
    """The ids of the shipped schemas in one registry; thread-safe (the stream task and Faust both use it)."""

    def __init__(self, url: str, topics: Mapping[TopicKind, Iterable[str]], registry: Registry = SHIPPED,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.topics = {kind: tuple(names) for kind, names in topics.items()}
        self._registry = registry
        self._clock = clock
        # Imported here, not with the module: the client library takes 0.3 s to import on an idle
        # box (over a second on a busy one), which every worker and API start paid without a registry.
        from confluent_kafka import schema_registry

        self._library = schema_registry
        self._client = schema_registry.SchemaRegistryClient.new_client({"url": url, **CLIENT_CONFIG})
        self._writer_ids: dict[str, int] = {}
        self._versions: dict[int, SchemaVersion | None] = {}  # None: an id that names no shipped version
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self.problem: str | None = None  # why the registry was last out of reach; None once it answers

    @property
    def prepared(self) -> bool:
        return len(self._writer_ids) == len(self.topics)

    def prepare(self) -> None:
        """Register every kind's versions under its subjects; raises RegistryUnavailable.

        Always asks (a retry after a failure is this call's job)."""
        self._failed_at = None
        for kind in self.topics:
            self._register(kind)

    def writer_id(self, kind: TopicKind) -> int:
        found = self._writer_ids.get(kind)
        return found if found is not None else self._register(kind)

    def version_of(self, schema_id: int) -> SchemaVersion:
        if schema_id in self._versions:
            found = self._versions[schema_id]
        else:
            found = self._look_up(schema_id)
        if found is None:
            raise DecodeError(f"schema id {schema_id} in {self.url} is not a shipped version of any topic's schema")
        return found

    # ------------------------------------------------------------ the network, once per schema

    def _register(self, kind: TopicKind) -> int:
        if kind not in self.topics:
            raise KeyError(f"no topics of kind {kind} to register its schema under")
        with self._lock:
            if kind in self._writer_ids:
                return self._writer_ids[kind]
            latest = self._registry.latest(kind)
            schema_id = None
            for name in self.topics[kind]:
                self._call(lambda: self._client.set_config(subject(name), self._compatibility()))
                for version in self._registry.versions(kind):
                    schema = self._library.Schema(version.source or json.dumps(version.schema), "AVRO")
                    version_id = self._call(lambda: self._client.register_schema(subject(name), schema))
                    self._versions[version_id] = version
                    if version is latest:
                        schema_id = version_id
            assert schema_id is not None
            self._writer_ids[kind] = schema_id
            return schema_id

    def _compatibility(self):
        """New versions must read what older ones wrote: ours add fields with defaults (schemas/README.md)."""
        levels = self._library.schema_registry_client.ConfigCompatibilityLevel
        return self._library.ServerConfig(compatibility=levels.BACKWARD)

    def _look_up(self, schema_id: int) -> SchemaVersion | None:
        try:
            schema = self._call(lambda: self._client.get_schema(schema_id))
        except _NotFound:
            raise DecodeError(f"schema id {schema_id} is not in the schema registry at {self.url}") from None
        try:
            fingerprint = schema_fingerprint(parse_schema(json.loads(schema.schema_str)))
            found = self._registry.by_fingerprint(fingerprint)
        except Exception:  # another producer's schema: anything unparseable is simply not ours
            found = None
        with self._lock:
            self._versions[schema_id] = found
        return found

    def _call(self, request):
        failed_at = self._failed_at
        if failed_at is not None and self._clock() - failed_at < RETRY_AFTER_SECONDS:
            raise RegistryUnavailable(self.problem or f"schema registry at {self.url} unreachable")
        try:
            result = request()
        except self._library.error.SchemaRegistryError as error:
            if error.http_status_code == 404:
                raise _NotFound() from None
            if error.http_status_code in (409, 422):  # the registry refuses our schema: say so, do not retry
                self._fail(f"schema registry at {self.url} refused a schema: {error}")
            else:
                self._fail(f"schema registry at {self.url} answered {error}")
        except Exception as error:  # the client's transport errors (httpx2) are many types
            self._fail(f"schema registry at {self.url} unreachable ({type(error).__name__}: {error})")
        self._failed_at, self.problem = None, None
        return result

    def _fail(self, reason: str):
        self._failed_at, self.problem = self._clock(), reason
        raise RegistryUnavailable(reason) from None


class _NotFound(Exception):
    pass
