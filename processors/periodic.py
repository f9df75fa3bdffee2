"""Periodic work that outlives a broker outage.

Owns `every(interval)`, the `app.timer` of every pass that talks to Kafka (the
input watchdog, the timer firing, the finishing check). Faust ends the whole
worker when a timer raises: a broker away for longer than one request's
timeout (90 s) stopped every worker with a `KafkaTimeoutError`, while the
agents themselves wait the outage out. Here a Kafka error, timeout or refused
connection in one pass is logged, once per outage, and the next pass tries
again; any other exception still ends the worker, as a bug should.
"""

from __future__ import annotations

import functools
import logging
from typing import Awaitable, Callable

from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

from processors.app import app

log = logging.getLogger(__name__)

# ProducerSendError: Faust's producer turns the KafkaError of a refused send into it.
OUTAGE_ERRORS = (KafkaError, ProducerSendError, TimeoutError, ConnectionError)


def outlasting_outages(work: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """`work`, with a failure of the broker logged instead of raised (see the module's docstring)."""
    failing = False

    @functools.wraps(work)
    async def guarded() -> None:
        nonlocal failing
        try:
            await work()
        except OUTAGE_ERRORS as error:
            if not failing:
                log.warning("%s failed (%s); trying again every pass until the broker answers",
                            work.__name__, str(error) or type(error).__name__)
            failing = True
            return
        if failing:
            log.warning("%s works again", work.__name__)
            failing = False

    return guarded


def every(interval: float):
    """`@app.timer(interval=...)` for work that must not end the worker when the broker is away."""

    def register(work: Callable[[], Awaitable[None]]):
        return app.timer(interval=interval)(outlasting_outages(work))

    return register
