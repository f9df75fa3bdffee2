"""A Faust table that hands over the changelog sends of its writes.

Faust writes a table change to the local RocksDB store at once and queues
its changelog record, to be sent later; the send's future is dropped. A
`kill -9` in between loses the record while the local store keeps the
change, and the store is ahead of the changelog from then on. That is only
safe if nothing vouches for the change before its changelog record is in
Kafka: an agent's input position (`processors.input_positions`) that moves
past an input whose state never reached the changelog makes the input count
as done, and a worker that rebuilds from the changelog (an empty data folder,
another worker taking the partition over) then holds the state from before
it. The crash test saw exactly that: a learner whose 1-hour timer had fired
came back from the changelog still waiting on it, so its 1-day timer was
stale when it fired, and the run stopped for good.

So every write remembers its changelog send, and the agent's input position
takes them (`take_changelog_sends`) with the outputs of the input that made
them; the position moves only once the broker has acknowledged all of them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.tables.table import Table


class TrackedTable(Table):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changelog_sends: list[asyncio.Future] = []

    def send_changelog(self, *args: Any, **kwargs: Any):
        future = super().send_changelog(*args, **kwargs)
        self._changelog_sends.append(future)
        return future

    def take_changelog_sends(self) -> list[asyncio.Future]:
        """The changelog sends of the writes since the last call, each done once Kafka has it."""
        sends, self._changelog_sends = self._changelog_sends, []
        return sends
