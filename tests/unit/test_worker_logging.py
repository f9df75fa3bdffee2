"""The worker's root logger after Faust's startup spinner (processors.worker_logging).

Given a root logger as Faust's worker leaves it (DEBUG, a WARN handler and the
spinner's DEBUG handler), when the spinner logging is dropped, then debug calls
build no record any more and warnings still reach the handler.
"""

from __future__ import annotations

import logging

from faust.utils.terminal.spinners import Spinner, SpinnerHandler

from processors.worker_logging import drop_spinner_logging


class Collecting(logging.Handler):
    def __init__(self, level: int):
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_after_the_spinner_the_root_logger_is_back_at_its_handlers_level():
    root = logging.Logger("root-under-test")
    handler = Collecting(logging.WARNING)
    root.addHandler(handler)
    root.addHandler(SpinnerHandler(Spinner(), level=logging.DEBUG))
    root.setLevel(logging.DEBUG)

    drop_spinner_logging(root)

    assert root.handlers == [handler]
    assert not root.isEnabledFor(logging.DEBUG)
    root.warning("kept")
    assert [record.getMessage() for record in handler.records] == ["kept"]


def test_without_a_spinner_the_level_asked_for_stays():
    root = logging.Logger("root-under-test", logging.DEBUG)
    root.addHandler(Collecting(logging.WARNING))

    drop_spinner_logging(root)

    assert root.isEnabledFor(logging.DEBUG)
