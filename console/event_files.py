"""JSONL files of school events as the CLI reads them (`events send`, `simulate`, the demo).

Owns turning a file, or standard input when the name is `-`, into numbered
events or rejections, one per non-blank line, through the same edge check as
the HTTP ingest (`processors.ingest.edge_event`). Lines are decoded as strict
UTF-8: a byte that is not UTF-8 is refused with its line number, as the HTTP
ingest refuses the body, instead of being replaced by U+FFFD (which would make
another learner id, or another tag, out of the bytes sent).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import BinaryIO, Iterator

from console.errors import CliError
from engine.school_events import EventRejected, SchoolEvent
from processors.ingest import edge_event

STDIN = "-"


def label(path: Path) -> str:
    """How messages name the source: its path, or `stdin`."""
    return "stdin" if str(path) == STDIN else str(path)


@contextlib.contextmanager
def opened(path: Path, what: str = "JSONL file") -> Iterator[BinaryIO]:
    """The file's bytes, or standard input's for `-`; a folder or a missing file is a CliError."""
    if str(path) == STDIN:
        yield sys.stdin.buffer
        return
    if path.is_dir():
        raise CliError(f"{path} is a folder, not a {what}")
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    with path.open("rb") as handle:
        yield handle


def numbered_events(lines: BinaryIO) -> Iterator[tuple[int, SchoolEvent | EventRejected]]:
    """(line number, event or rejection) for every non-blank line, read one line at a time."""
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield number, EventRejected(reason=_not_utf8(raw, error))
            continue
        if line.strip():
            yield number, edge_event(line)


def _not_utf8(raw: bytes, error: UnicodeDecodeError) -> str:
    # The column counts characters before the bad byte, as an editor shows it.
    column = len(raw[: error.start].decode("utf-8", errors="replace")) + 1
    return f"not UTF-8 text: byte 0x{raw[error.start]:02x} at column {column}"
