"""The learner processor: every input of a learner, in order, through the engine.

Reads school events, operator/fan-out commands and fired timers as one stream
(all keyed `school:user`, co-partitioned), decodes each into an engine
command and hands it to `processors.learner_processing`. Undecodable input
goes to the dead-letter topic with the reason. Broadcast commands (a
definition change that touches every learner of an automation) arrive once
per partition and are applied to every learner this partition holds.
Every input offset is processed, in order, even those Faust skips after a
restart (`processors.input_positions`).
"""

from __future__ import annotations

import asyncio

from engine.commands import HandleSchoolEvent
from processors import records
from processors.app import (
    app,
    clock,
    learner_inputs,
    learners_table,
    receipts_topic,
    settings,
)
from processors.dead_letters import dead_letter
from processors.definitions_table import definitions
from processors.input_positions import InputPositions
from processors.learner_processing import input_timestamp_ms, process
from processors.receipts import receipt_record, refusal_receipt, wants_receipt

_DECODERS = {
    settings.topics.school_events: records.school_event_command,
    settings.topics.fired_timers: records.fired_timer_command,
    settings.topics.control: records.control_command,
}
positions = InputPositions(learners_table, settings, tuple(_DECODERS))


async def _broadcast(command, school: str, partition: int, input_id: str, timestamp_ms: int | None, version: int,
                     acknowledged: bool) -> list:
    await definitions.wait_for_version(command.automation_id, version)
    prefix = f"{school}:".encode()
    keys = [key for key, _ in learners_table.data._dbs[partition].items() if key.startswith(prefix)]
    sends = []
    for count, key in enumerate(keys, start=1):
        _, user = key.decode().split(":", 1)
        sends += (await process(school, user, command, input_id, timestamp_ms, acknowledged, positions.recorded))[1]
        if count % 200 == 0:
            await asyncio.sleep(0)
    return sends


async def _handle(item) -> list:
    """Process one input (a Faust event or a message read again); returns its sends
    (see processors.input_positions.handled)."""
    message = item.message
    input_id = f"{message.topic}/{message.partition}/{message.offset}"
    try:
        command, school, user, version = records.learner_input(_DECODERS, message)
    except records.Undecodable as error:
        sends = [await dead_letter(message, str(error))]
        if message.topic == settings.topics.school_events and wants_receipt(message.headers):
            receipt = refusal_receipt(message, str(error), clock.now())
            sends.append(await receipts_topic.send(key=message.key, value=receipt))
        return sends
    timestamp_ms = input_timestamp_ms(message)
    acknowledged = message.offset < (positions.recorded(message.topic, message.partition) or 0)
    if user == records.BROADCAST_USER:
        return await _broadcast(command, school, message.partition, input_id, timestamp_ms, version, acknowledged)
    outputs, sends = await process(school, user, command, input_id, timestamp_ms, acknowledged, positions.recorded)
    if outputs is None:
        return sends  # handled before: its receipt was sent then
    if isinstance(command, HandleSchoolEvent) and wants_receipt(message.headers):
        receipt = receipt_record(command.event, outputs, definitions.catalog, clock.now())
        sends.append(await receipts_topic.send(key=message.key, value=receipt))
    return sends


@app.agent(learner_inputs, concurrency=1)
async def learners(stream):
    await definitions.ready()
    async for event in stream.events():
        await positions.process(event, _handle)
