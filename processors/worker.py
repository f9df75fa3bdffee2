"""The worker: the Faust app with the stream task, web views and periodic checks registered.

Importing this module is what `automations worker` runs; each import below
registers its service, page or timer on `processors.app.app`.
"""

from __future__ import annotations

import logging

from processors import definitions_table, finishing, stream_host, web  # noqa: F401 - imported for their registrations
from processors.app import app
from processors.worker_logging import drop_spinner_logging

__all__ = ["app"]


@app.task
async def quiet_debug_logging() -> None:
    drop_spinner_logging(logging.getLogger())
