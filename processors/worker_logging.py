"""The worker's log level once Faust's startup spinner is done with it.

Faust's worker sets the root logger to DEBUG so that its terminal spinner
turns on every record, and never sets it back. Every debug call of Faust and
aiokafka (one per record sent, with its key and value formatted) then builds
a record that the handlers drop: ~4% of a loaded worker's time, and with the
spinner handler about 10% of its CPU per event (bench/pipeline.py throughput
phase: 1,226 -> 1,098 us).
"""

from __future__ import annotations

import logging

from faust.utils.terminal.spinners import SpinnerHandler


def drop_spinner_logging(root: logging.Logger) -> None:
    """Remove the spinner's handler and put `root` back at its handlers' level."""
    spinners = [handler for handler in root.handlers if isinstance(handler, SpinnerHandler)]
    for handler in spinners:
        root.removeHandler(handler)
    levels = [handler.level for handler in root.handlers if handler.level]
    if spinners and levels:
        root.setLevel(min(levels))
