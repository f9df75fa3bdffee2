"""The API's broker probe (`api.broker_watch`) against stand-in servers on 127.0.0.1:
one that answers ApiVersions, one that takes the connection and never answers (a
frozen broker), and a port nobody listens on (a stopped one). The real broker's
outages are tests/integration/test_api_outages.py."""

from __future__ import annotations

import asyncio
import struct
import time

from api import broker_watch


async def serve(answer: bool) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        request = await reader.readexactly(size)
        if answer:
            correlation = struct.unpack_from(">i", request, 4)[0]
            payload = struct.pack(">ihi", correlation, 0, 0)
            writer.write(struct.pack(">i", len(payload)) + payload)
            await writer.drain()
        else:
            await asyncio.Event().wait()  # frozen: the connection stays open, nothing comes back

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_broker_that_answers_one_that_is_frozen_and_one_that_is_stopped():
    async def go():
        answering, port_a = await serve(answer=True)
        frozen, port_f = await serve(answer=False)
        stopped, port_s = await serve(answer=True)
        stopped.close()
        await stopped.wait_closed()
        try:
            assert await broker_watch.answers("127.0.0.1", port_a) is True
            began = time.monotonic()
            assert await broker_watch.answers("127.0.0.1", port_f, timeout=0.5) is False
            assert time.monotonic() - began < 2, "a frozen broker is given up on at the timeout"
            assert await broker_watch.answers("127.0.0.1", port_s) is False
        finally:
            for server in (answering, frozen):
                server.close()

    asyncio.run(go())


def test_the_broker_is_lost_only_after_lost_after_seconds_without_an_answer():
    now = [100.0]
    watch = broker_watch.BrokerWatch("127.0.0.1:1", clock=lambda: now[0])
    watch.last_answer = 100.0
    now[0] += broker_watch.LOST_AFTER - 0.1
    assert watch.answering
    now[0] += 0.2
    assert not watch.answering and round(watch.away_for(), 1) == round(broker_watch.LOST_AFTER + 0.1, 1)


def test_bootstrap_servers_are_read_as_host_and_port_pairs():
    assert broker_watch.addresses("127.0.0.1:9092, kafka-2:9093,[::1]:9094") == [
        ("127.0.0.1", 9092), ("kafka-2", 9093), ("::1", 9094)]
