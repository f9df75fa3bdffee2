"""The CLI's views, read straight from the topics (no API server needed).

Owns loading the run-status topic into one `PartitionViews` per partition
and the definitions topic into the lifecycle state, as the API server does,
for the operator commands in `console/runs.py` and `console/steps.py`.
"""

from __future__ import annotations

import asyncio

from engine import lifecycle as lc
from processors import config, definitions_log
from processors.kafka_io import read_to_end
from projections.long_lived import Freezer
from projections.partition import PartitionViews
from schemas.codec import DecodeError, decode


def load_parts() -> list[PartitionViews]:
    settings = config.load()

    async def read() -> list[PartitionViews]:
        parts: dict[int, PartitionViews] = {}
        freezer = Freezer()
        async for record in read_to_end(settings, settings.topics.run_status):
            try:
                decoded = decode("run_status", record.value)
            except DecodeError:
                continue  # undecodable records are no run; the API counts them
            parts.setdefault(record.partition, PartitionViews()).apply(decoded, encoded=record.value)
            freezer.folded()
        return [parts[p] for p in sorted(parts)]

    return asyncio.run(read())


def load_definitions() -> lc.DefinitionsState:
    return asyncio.run(definitions_log.load_state(config.load()))
