"""Whether the worker's agents keep running: their crashes, counted and remembered.

Every agent turns a bad input into a dead letter, so an agent that raises has
met something systemic (a broker that refuses, topics unlike the settings),
and Faust's supervisor restarts it, perhaps in a loop, while the process lives
on. Each crash is logged, counted (`automations_agent_crashes_total`) and
keeps `/ready/` at 503 for `UNREADY_AFTER_CRASH_SECONDS`, so a worker that
crashes over and over is never taken for a healthy one. Times are monotonic
seconds passed in, so this is tested without a clock.
"""

from __future__ import annotations

import logging

from processors import metrics

log = logging.getLogger(__name__)

UNREADY_AFTER_CRASH_SECONDS = 60.0

_last_crash: float | None = None


def crashed(agent: str, error: BaseException, now: float) -> None:
    global _last_crash
    _last_crash = now
    metrics.count("automations_agent_crashes_total", agent=agent)
    log.error("%s failed (%s: %s); it is started again", agent, type(error).__name__, error)


def crashed_recently(now: float) -> bool:
    return _last_crash is not None and now - _last_crash < UNREADY_AFTER_CRASH_SECONDS
