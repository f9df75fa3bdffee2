"""A pass of periodic work that meets a broker outage is logged and tried again
(processors.periodic): Faust ends the whole worker when a timer raises, and a
broker away for over 90 s stopped every worker with a KafkaTimeoutError."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.exceptions import ProducerSendError

from processors.periodic import outlasting_outages


def test_an_outage_is_logged_once_and_its_end_once_and_the_work_goes_on(caplog):
    refused_send = ProducerSendError("Error while sending: KafkaTimeoutError('metadata for topic not available')")
    outcomes = [KafkaTimeoutError("Failed to get offsets by times in 90000 ms"), refused_send, ConnectionRefusedError(), None, None]
    passes = []

    async def resume_stalled_inputs() -> None:
        passes.append(len(passes))
        failure = outcomes[len(passes) - 1]
        if failure is not None:
            raise failure

    guarded = outlasting_outages(resume_stalled_inputs)
    with caplog.at_level(logging.WARNING, logger="processors.periodic"):
        for _ in outcomes:
            asyncio.run(guarded())
    assert passes == [0, 1, 2, 3, 4]
    assert [r.getMessage() for r in caplog.records] == [
        "resume_stalled_inputs failed (KafkaTimeoutError: Failed to get offsets by times in 90000 ms); "
        "trying again every pass until the broker answers",
        "resume_stalled_inputs works again",
    ]
    assert guarded.__name__ == "resume_stalled_inputs", "Faust names the timer after the function"


def test_any_other_failure_still_ends_the_worker():
    async def fire_due_timers() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        asyncio.run(outlasting_outages(fire_due_timers)())
