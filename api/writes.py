"""The API server's writes to Kafka, each with a bound on how long its caller waits.

Owns `Writes`: every handler that writes to Kafka (ingest, replay, cancel,
advance) runs the write through `Writes.run`, which answers within
`AUTOMATIONS_WRITE_TIMEOUT` seconds whatever the broker does, and at once
when the server stops. Why a bound of our own: aiokafka gives up on a send
after its request timeout (40 s) and then retries, so a stopped or frozen
broker held callers for minutes, and a producer stopped meanwhile waits for
its unsent batches. A write that missed its bound is cancelled; whatever
Kafka got of it stays there, so the caller is told to send again (an event id
starts its runs once, a command id is applied once).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unconfirmed(Exception):
    """Kafka did not confirm a write in time, or the server stopped first; the message says which."""


class Writes:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pending: set[asyncio.Task] = set()
        self._stopping: asyncio.Event | None = None

    def _stop_event(self) -> asyncio.Event:
        if self._stopping is None:
            self._stopping = asyncio.Event()
        return self._stopping

    async def run(self, write: Awaitable[T]) -> T:
        """The write's result, or `Unconfirmed` after `timeout` seconds or when the server stops."""
        stopping = self._stop_event()
        if stopping.is_set():
            if asyncio.iscoroutine(write):
                write.close()  # never to run: no "never awaited" warning
            raise Unconfirmed("the server is stopping")
        task = asyncio.ensure_future(write)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        stopped = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({task, stopped}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if task.done():
            return task.result()  # a Kafka error is the handler's to answer
        # A write left running would hold the shared producer's batches and this
        # server's stop; its caller is answered now and sends again.
        task.cancel()
        if stopping.is_set():
            raise Unconfirmed("the server is stopping")
        raise Unconfirmed(f"no confirmation within {self.timeout:g}s: the broker is away or slow")

    @property
    def waiting(self) -> int:
        """Writes running now (callers waiting for Kafka, or writes left to cancel)."""
        return len(self._pending)

    @property
    def stopping(self) -> asyncio.Event:
        return self._stop_event()

    def stop(self) -> None:
        """Answer every waiting caller now (the server stops): called before aiohttp waits for its handlers."""
        self._stop_event().set()

    async def cancelled(self, grace: float) -> None:
        """Cancel writes still running and give them `grace` seconds to finish cancelling."""
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=grace)
