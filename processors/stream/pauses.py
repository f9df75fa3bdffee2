"""When the worker's process pauses for Python's full garbage collections: at idle moments, not mid-burst.

Owns the cyclic collector's policy for a process that hosts a stream task.
CPython's automatic full (oldest-generation) collection walks every object the
process holds; a worker holding hundreds of thousands of decoded learner
entries and timers pauses for 0.3 - 0.5 s per full collection with 20,000
pending timers, and for seconds with 100,000, every thread stopped. Measured
in the pipeline benchmark: those pauses were the tail of live events' latency
during a burst of due timers. So the automatic full collection is switched
off (the young generations still collect automatically: most garbage dies
young and those passes are short), and the task runs a full collection
itself when a poll found nothing to do, at most every `IDLE_EVERY` seconds;
and, so that a worker that is never idle does not keep cyclic garbage for
good, also when busy once `BUSY_EVERY` seconds have passed without one.
Reference counting frees everything that is not in a cycle whatever the policy.

An idle moment is also when the next record may arrive, and it waits for the
collection: traced in the pipeline benchmark, the idle full collections of a
worker holding 20,000 learners and 20,000 timers took 0.07 - 1.9 s. So what a
full collection leaves alive is frozen (`gc.freeze`: CPython's permanent
generation, which no collection walks), and the next one walks only what came
since; every `THOROUGH_EVERY` seconds a collection unfreezes everything first
and walks it all, so cyclic garbage among old objects lives that long at most.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

IDLE_EVERY = 30.0  # seconds between full collections at idle moments
BUSY_EVERY = 600.0  # a full collection even mid-burst once this long has passed without one
THOROUGH_EVERY = 600.0  # seconds between full collections that walk the frozen objects too
_OLDEST_NEVER = 1 << 30  # gen1 collections before an automatic gen2 one: never, in practice

_last_full = time.monotonic()
_last_thorough = _last_full


def install() -> None:
    """Switch the automatic full collection off; the young generations keep their thresholds."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _OLDEST_NEVER)


def tick(idle: bool) -> None:
    """Called by the task between batches: a full collection if one is due now."""
    global _last_full, _last_thorough
    began = time.monotonic()
    if began - _last_full < (IDLE_EVERY if idle else BUSY_EVERY):
        return
    thorough = began - _last_thorough >= THOROUGH_EVERY
    if thorough:
        gc.unfreeze()
        _last_thorough = began
    gc.collect()
    gc.freeze()
    _last_full = time.monotonic()
    took = _last_full - began
    if took > 0.1:
        log.info("full garbage collection (%s%s) took %.0f ms", "idle" if idle else "busy",
                 ", every object" if thorough else "", took * 1000)
