"""The definitions global table: every worker's copy of every automation.

Every worker reads all of the compacted definitions topic (no consumer group,
from the beginning) and keeps the latest record per `school:automation`, from
which it builds the engine's `Catalog`. Definitions are the only global state
and they are small, so an in-memory copy per worker is the simple and fast
choice. Agents `await definitions.ready()` before their first input, so no
school event is matched against a half-loaded catalog, and a fan-out command
waits (`wait_for_version`) until this worker has seen the version it names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from engine.catalog import Catalog
from engine.definitions import Automation
from processors import schema_registry
from processors.app import app, settings
from schemas.codec import DecodeError, decode

log = logging.getLogger(__name__)

GONE = {"removed"}


class UnreadableDefinition(ValueError):
    """A definitions record whose automation cannot be read (only a hand-made record is)."""


def automation_of(record: dict) -> Automation | None:
    """The automation a definitions record leaves in the catalog, or None if gone."""
    if record["event"] in GONE or (record["event"] == "deleted" and record.get("mode") != "finishing"):
        return None
    if not record.get("automation_json"):
        return None
    try:
        automation = Automation.model_validate(json.loads(record["automation_json"]))
    except (ValueError, RecursionError) as error:  # JSON, validation, a 5,000-digit number
        raise UnreadableDefinition(f"automation_json of {record['automation_id']!r} is unreadable: {error}") from None
    if record["event"] == "deleted":
        automation = automation.model_copy(update={"status": "finishing"})
    return automation


class DefinitionsTable(Service):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._automations: dict[str, Automation] = {}
        self._versions: dict[str, int] = {}  # latest version seen, deletions included
        self._catalog = Catalog.of(())
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        # The stream task waits from its own thread (processors.learner_processor).
        self._changed_for_threads = threading.Condition()
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    async def ready(self) -> None:
        await self._ready.wait()

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    @property
    def versions(self) -> dict[str, int]:
        """automation id -> the latest version this worker has seen (deletions included)."""
        return dict(self._versions)

    async def wait_for_version(self, automation_id: str, version: int, timeout: float = 30.0) -> bool:
        """True once this worker has seen `version` (or later) of the automation."""

        def arrived() -> bool:
            return self._versions.get(automation_id, -1) >= version

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(arrived), timeout)
                return True
            except asyncio.TimeoutError:
                return False

    def wait_for_version_blocking(self, automation_id: str, version: int, timeout: float = 30.0) -> bool:
        """`wait_for_version` for a thread other than the event loop's."""
        with self._changed_for_threads:
            return self._changed_for_threads.wait_for(lambda: self._versions.get(automation_id, -1) >= version, timeout)

    def apply(self, key: str, value: bytes | None) -> None:
        automation_id = key.split(":", 1)[1] if ":" in key else key
        if value is None:
            self._automations.pop(automation_id, None)
        else:
            try:
                record = decode("definition", value)
                automation = automation_of(record)
            except (DecodeError, ValueError) as error:
                log.error("definitions record %s ignored: %s", key, error)
                return
            self._versions[automation_id] = max(
                self._versions.get(automation_id, -1), record.get("version") or 0
            )
            if automation is None:
                self._automations.pop(automation_id, None)
            else:
                self._automations[automation_id] = automation
        self._catalog = Catalog.of(self._automations.values())

    async def _apply_when_readable(self, key: str, value: bytes | None) -> None:
        # A record framed with a schema id this process has not learned needs the registry; while
        # it is away the record is neither applied nor skipped, only read again (nothing is lost).
        async def apply() -> None:
            self.apply(key, value)

        await schema_registry.until_answered(apply, f"definitions record {key} waits for the schema registry")

    async def on_start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await self._consumer.start()
        self.add_future(self._consume())

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _consume(self) -> None:
        # Records in the Confluent wire format need their schema ids: the registry answers first.
        await schema_registry.keep_trying()
        consumer = self._consumer
        topic = settings.topics.definitions
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await asyncio.sleep(0.5)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        behind = {tp for tp in tps if ends[tp] > 0}
        if not behind:
            self._ready.set()
        while not self.should_stop:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    await self._apply_when_readable(
                        message.key.decode("utf-8", "replace") if message.key else "", message.value
                    )
                if tp in behind and await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
            if batch:
                async with self._changed:
                    self._changed.notify_all()
                with self._changed_for_threads:
                    self._changed_for_threads.notify_all()
            if not behind and not self._ready.is_set():
                log.info("definitions loaded: %d automation(s)", len(self._automations))
                self._ready.set()


definitions = app.service(DefinitionsTable())
