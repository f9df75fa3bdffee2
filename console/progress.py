"""The progress line a long command prints on stderr.

Owns when it speaks: nothing for the first seconds (a short run prints no
progress at all), then a line every few seconds, so a run over a large file
shows it is moving without flooding a log. stdout stays the command's output.
The clock comes in as an argument, so tests move it instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Callable

import typer

QUIET_FOR_SECONDS = 3.0
EVERY_SECONDS = 2.0


class Progress:
    def __init__(self, clock: Callable[[], float] = time.monotonic, say: Callable[[str], None] | None = None,
                 quiet_for: float = QUIET_FOR_SECONDS, every: float = EVERY_SECONDS):
        self.clock = clock
        self.say = say or (lambda line: typer.echo(line, err=True))
        self.started = clock()
        self.next_at = self.started + quiet_for
        self.every = every

    def due(self) -> bool:
        """Whether a line is due now (cheap enough to ask for every item)."""
        return self.clock() >= self.next_at

    def report(self, line: str) -> None:
        """Print `line` with the time so far if one is due; else nothing."""
        now = self.clock()
        if now < self.next_at:
            return
        self.next_at = now + self.every
        self.say(f"{line} ({now - self.started:.0f} s)")
