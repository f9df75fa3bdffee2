"""The worker: the Faust app with every agent, timer and service registered.

Importing this module is what `automations worker` runs; each import below
registers its agent (one per file) on `processors.app.app`.
"""

from __future__ import annotations

import logging

from processors import (  # noqa: F401 - imported for their registrations
    definitions_agent,
    definitions_table,
    finishing_agent,
    input_watchdog,
    learner_agent,
    timer_agent,
    timer_firing,
    web,
)
from processors.app import app
from processors.worker_logging import drop_spinner_logging

__all__ = ["app"]


@app.task
async def quiet_debug_logging() -> None:
    drop_spinner_logging(logging.getLogger())
