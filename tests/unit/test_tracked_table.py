"""A table that hands over its changelog sends (processors.tracked_table).

Given a TrackedTable on an app that is never started, when changelog records
are sent, then each send is handed over once, in order, still pending (it
is done only once Kafka has the record; an input position waits for it as
for an output, tests/unit/test_input_positions.py). No broker: nothing is
flushed.
"""

from __future__ import annotations

import asyncio

import faust

from processors.tracked_table import TrackedTable


def tracked_table() -> TrackedTable:
    app = faust.App("tracked-table-test", broker="kafka://127.0.0.1:9", store="memory://")
    return app.tables.add(TrackedTable(app, name="states", default=None, beacon=app.tables.beacon, partitions=2))


def test_each_changelog_send_is_handed_over_once_in_order_and_pending_until_kafka_has_it():
    async def scenario():
        table = tracked_table()
        first = table.send_changelog(0, b"learner-1", b"state-1")
        second = table.send_changelog(1, b"learner-2", b"state-2")

        sends = table.take_changelog_sends()

        assert sends == [first, second]
        assert all(isinstance(send, asyncio.Future) and not send.done() for send in sends)
        assert table.take_changelog_sends() == [], "handed over once"

    asyncio.run(scenario())  # a future belongs to a running loop, as in a worker
