"""Which framing this process writes, from the settings, and whether its registry answers.

Owns turning `AUTOMATIONS_SCHEMA_REGISTRY_URL` into the codec's framing: with
it set, every topic is written in the Confluent wire format, each schema
registered under its topics' `<topic>-value` subjects (`schemas.confluent`);
without it, in Avro single-object encoding. Readers take both either way.
`keep_trying` registers in the background until the registry answers, so a
worker or API started before its registry is not ready (and says why) rather
than failing; `problem` is what their `/ready` shows meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, TypeVar

from processors.config import Settings
from schemas import codec
from schemas.confluent import RegistryUnavailable, SchemaRegistryIds

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
T = TypeVar("T")


def topics_by_kind(settings: Settings) -> dict[codec.TopicKind, tuple[str, ...]]:
    """The topics each schema is written to: its subjects are theirs."""
    topics = settings.topics
    return {
        "school_event": (topics.school_events,),
        "definition": (topics.definitions,),
        "control": (topics.control,),
        "timer": (topics.delays,),
        "action": (topics.actions,),
        "run_status": (topics.run_status, topics.automation_runs),
        "dead_letter": (topics.dead_letter,),
        "receipt": (topics.receipts,),
    }


def install(settings: Settings) -> SchemaRegistryIds | None:
    """Set the codec's framing from the settings; nothing is asked of the registry yet."""
    current = codec.schema_registry()
    url = settings.schema_registry_url
    if not url:
        codec.use_schema_registry(None)
        return None
    if isinstance(current, SchemaRegistryIds) and current.url == url and current.topics == topics_by_kind(settings):
        return current  # keep what it has learned
    ids = SchemaRegistryIds(url, topics_by_kind(settings))
    codec.use_schema_registry(ids)
    return ids


def problem() -> str | None:
    """Why this process cannot write yet: its registry has not answered. None without one."""
    ids = codec.schema_registry()
    if not isinstance(ids, SchemaRegistryIds) or ids.prepared:
        return None
    return ids.problem or f"registering schemas with {ids.url}"


async def keep_trying() -> None:
    """Register the schemas, again every RETRY_SECONDS until the registry answers."""
    ids = codec.schema_registry()
    if not isinstance(ids, SchemaRegistryIds):
        return
    await until_answered(lambda: asyncio.get_running_loop().run_in_executor(None, ids.prepare), "not ready")
    log.info("schemas registered with %s (Confluent wire format on every topic)", ids.url)


async def until_answered(attempt: Callable[[], Awaitable[T]], waiting: str) -> T:
    """`attempt()` again every RETRY_SECONDS while the registry is away; each new reason logged once."""
    said = None
    while True:
        try:
            return await attempt()
        except RegistryUnavailable as error:
            if str(error) != said:
                log.warning("%s: %s; trying again every %.0fs", waiting, error, RETRY_SECONDS)
                said = str(error)
            await asyncio.sleep(RETRY_SECONDS)
