"""Whether the API server's Kafka broker answers, asked every second.

Owns `BrokerWatch`: a task that sends a Kafka ApiVersions request to the
bootstrap servers on a fresh connection each time, with a short timeout, and
keeps when one last answered. `/ready` says 503 once none has answered for
`LOST_AFTER` seconds: a stopped broker refuses the connection, a frozen one
(its process stopped, its socket still open) takes it and never answers, and
both read as lost. The feeds' and the producer's own connections say neither
in time: aiokafka retries quietly for as long as the broker is away.
"""

from __future__ import annotations

import asyncio
import logging
import struct

log = logging.getLogger(__name__)

PROBE_EVERY = 1.0  # seconds between probes
PROBE_TIMEOUT = 2.0  # one probe's connect and answer
# One lost probe (a GC pause, a busy machine) is no outage; three seconds without any
# answer are. With PROBE_EVERY and PROBE_TIMEOUT, /ready says 503 within about 6 s.
LOST_AFTER = 3.0

_CORRELATION = 0x0A11
_CLIENT = b"automations-api-ready"
# ApiVersions v0: the one request every Kafka broker answers before anything else.
_REQUEST = struct.pack(">hhih", 18, 0, _CORRELATION, len(_CLIENT)) + _CLIENT


def addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    """"host:port,host:port" as pairs; an IPv6 host keeps its colons ([::1]:9092)."""
    found = []
    for item in bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            found.append((host.strip("[]"), int(port)))
    return found


async def answers(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when a Kafka broker at host:port answers ApiVersions within `timeout`."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(struct.pack(">i", len(_REQUEST)) + _REQUEST)
            await writer.drain()
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            payload = await reader.readexactly(size)
        correlation, error = struct.unpack_from(">ih", payload, 0)
        return correlation == _CORRELATION and error == 0
    except (OSError, TimeoutError, asyncio.IncompleteReadError, struct.error):
        return False
    finally:
        if writer is not None:
            writer.close()


class BrokerWatch:
    def __init__(self, bootstrap_servers: str, clock=None) -> None:
        self._addresses = addresses(bootstrap_servers)
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._task: asyncio.Task | None = None
        self.last_answer: float | None = None
        self.lost_since: float | None = None

    def start(self) -> None:
        # The server has just reached the broker (its feeds and producer started): it answers.
        self.last_answer = self._clock()
        self._task = asyncio.create_task(self._run(), name="broker watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def answering(self) -> bool:
        return self.last_answer is not None and self._clock() - self.last_answer < LOST_AFTER

    def away_for(self) -> float:
        return 0.0 if self.last_answer is None else self._clock() - self.last_answer

    async def probe(self) -> bool:
        for host, port in self._addresses:
            if await answers(host, port):
                return True
        return False

    async def _run(self) -> None:
        while True:
            began = self._clock()
            if await self.probe():
                if self.lost_since is not None:
                    log.warning("the Kafka broker answers again after %.1fs", self._clock() - self.lost_since)
                self.last_answer, self.lost_since = self._clock(), None
            elif self.lost_since is None and not self.answering:
                self.lost_since = self.last_answer
                log.warning("the Kafka broker has not answered for %.1fs: /ready says 503", self.away_for())
            await asyncio.sleep(max(0.0, PROBE_EVERY - (self._clock() - began)))
