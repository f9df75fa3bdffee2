"""Printing a simulation's runs as they end, in start order, with little kept in memory.

Owns the two outputs of `automations simulate` as sinks of the engine's
`VirtualWorld` (`engine.simulation.Sink`), and their exact bytes, which must
not depend on how the runs came in: every run in start order, then (JSONL)
every skipped entry.

- JSONL: a run's line is written as soon as it and every run started before
  it have ended; a line that must wait for an earlier run is parked in a
  temporary file meanwhile, and skipped entries wait there for the end.
- Table: rich sizes the columns from every row, so each run is kept as its
  six cells of text until the end (a few hundred bytes, instead of the run
  with its traces); then the widths are taken from all rows at once and the
  table is printed in slices of rows, each slice drawn at those widths, so no
  full rendering of every row is ever held. As rich's one rendering did, a
  table wider than TABLE_WIDTH (cells that cannot wrap) is cut at that width.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any, TextIO

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.table import Table

from console.progress import Progress
from engine.events import EntryDeclined, RunSkipped
from engine.simulation import RunReport
from engine.values import as_json

TABLE_WIDTH = 160
ROWS_PER_SLICE = 500
COLUMNS = (("learner", 16), ("automation", 16), ("trigger", 18), ("status", 18))
# Slices after the first go on below a row: their top border is the line between rows,
# and their first row is drawn as any other (rich draws a table's first row with the
# header's sides, which the default box makes heavy).
_CONTINUED = box.Box("├─┼┤\n│ ││\n├─┼┤\n│ ││\n├─┼┤\n├─┼┤\n│ ││\n└─┴┘\n")


def jsonl_line(record: str, value: RunReport | RunSkipped) -> str:
    document = value.model_dump(mode="json") if isinstance(value, RunReport) else as_json(value)
    return json.dumps({"record": record, **document}, sort_keys=True, separators=(",", ":")) + "\n"


class ParkedLines:
    """Lines written to a temporary file, read back by their number."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self._places: dict[int, tuple[int, int]] = {}

    def park(self, number: int, line: str) -> None:
        data = line.encode("utf-8")
        self._file.seek(0, 2)
        self._places[number] = (self._file.tell(), len(data))
        self._file.write(data)

    def __contains__(self, number: int) -> bool:
        return number in self._places

    def take(self, number: int) -> str:
        offset, size = self._places.pop(number)
        self._file.seek(offset)
        return self._file.read(size).decode("utf-8")

    def close(self) -> None:
        self._file.close()


class JsonlOutput:
    """A run's line goes out once every run started before it has gone out."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.next_run = 0
        self.runs = 0
        self.skipped = 0
        self._waiting = ParkedLines()
        self._skips = tempfile.TemporaryFile("w+", encoding="utf-8")

    def run_ended(self, sequence: int, run: RunReport) -> None:
        self.runs += 1
        if sequence != self.next_run:
            self._waiting.park(sequence, jsonl_line("run", run))
            return
        self.out.write(jsonl_line("run", run))
        self.next_run += 1
        while self.next_run in self._waiting:
            self.out.write(self._waiting.take(self.next_run))
            self.next_run += 1

    def run_skipped(self, skipped: RunSkipped) -> None:
        self.skipped += 1
        self._skips.write(jsonl_line("skipped", skipped))

    def entry_declined(self, declined: EntryDeclined) -> None:
        pass  # not printed

    def finish(self, still_going: list[tuple[int, RunReport]]) -> None:
        """The runs that never ended, then every skipped entry."""
        for sequence, run in still_going:
            self.run_ended(sequence, run)
        self._skips.seek(0)
        for line in self._skips:
            self.out.write(line)
        self._skips.close()
        self._waiting.close()


def history_line(entry: dict[str, Any]) -> str:
    at = str(entry["at"])[:19].replace("T", " ")
    if entry["kind"] == "step":
        return f"{at} {entry['step_id']} ({entry['step_type']}): {entry['outcome']}"
    if entry["kind"] == "exit_checked":
        return f"{at} exit {entry['exit_id']} checked on {entry['event_id']}: {'fired' if entry['matched'] else 'no'}"
    if entry["kind"] == "run_status":
        why = entry.get("error") or entry.get("reason") or ""
        return f"{at} -> {entry['status']}" + (f" ({why})" if why else "")
    return f"{at} started"


def table_cells(run: RunReport) -> tuple[str, ...]:
    outcome = run.status + (f"\nexit: {run.exit_id}" if run.exit_id else "")
    outcome += f"\n{run.error}" if run.error else ""
    return (
        f"{run.school}:{run.user}",
        run.automation_id,
        f"{run.trigger_id or '-'}\n({run.trigger_event_id})" + (f"\nreplay of {run.replay_of}" if run.replay_of else ""),
        outcome,
        "\n".join(history_line(entry) for entry in run.history),
        "\n".join(f"{a.type} {a.template or a.tag or a.course or a.program or a.product or a.field}" for a in run.actions),
    )


def simulation_console(file: TextIO | None = None) -> Console:
    return Console(file=file, width=TABLE_WIDTH, no_color=True, highlight=False, soft_wrap=False)


def new_table(title: str | None = None, widths: list[int] | None = None, continued: bool = False) -> Table:
    """The runs table; with `widths` (padding included), its columns drawn at exactly those."""
    table = Table(title=title, show_lines=True, show_header=not continued, **({"box": _CONTINUED} if continued else {}))
    for column, width in COLUMNS:
        table.add_column(column, max_width=width)
    table.add_column("history (UTC)", min_width=56)
    table.add_column("actions", max_width=28)
    if widths is not None:
        for index, (column, width) in enumerate(zip(table.columns, widths)):
            column.width = width - table._get_padding_width(index)
    return table


class TableOutput:
    """Rows kept as text in start order; the table is printed at the end."""

    def __init__(self, console: Console | None = None, rows_per_slice: int = ROWS_PER_SLICE,
                 progress: Progress | None = None):
        self.console = console or simulation_console()
        self.rows_per_slice = rows_per_slice
        self.progress = progress
        self.rows: dict[int, tuple[str, ...]] = {}
        self.skipped = 0

    def run_ended(self, sequence: int, run: RunReport) -> None:
        self.rows[sequence] = table_cells(run)

    def run_skipped(self, skipped: RunSkipped) -> None:
        self.skipped += 1

    def entry_declined(self, declined: EntryDeclined) -> None:
        pass  # not printed

    def finish(self, still_going: list[tuple[int, RunReport]]) -> None:
        for sequence, run in still_going:
            self.run_ended(sequence, run)
        rows = [self.rows.pop(sequence) for sequence in sorted(self.rows)]
        title = f"{len(rows)} run(s), {self.skipped} skipped"
        if len(rows) <= self.rows_per_slice:
            self.console.print(self._filled(new_table(title), rows))
            return
        if self.progress is not None:
            self.progress.report(f"measuring the table's {len(rows):,} rows")
        whole = self._filled(new_table(title), rows)
        widths = self._widths(whole)
        # Each slice is drawn on a console as wide as the table, so that rich takes the widths
        # as given, and its lines are then cut as the console's print cuts them.
        drawing = Console(width=max(self.console.width, sum(widths) + whole._extra_width),
                          no_color=True, highlight=False, soft_wrap=False)
        del whole
        for start in range(0, len(rows), self.rows_per_slice):
            if self.progress is not None:
                self.progress.report(f"printed {start:,} of {len(rows):,} rows of the table")
            first, last = start == 0, start + self.rows_per_slice >= len(rows)
            table = new_table(title if first else None, widths, continued=not first)
            with drawing.capture() as captured:
                drawing.print(self._filled(table, rows[start:start + self.rows_per_slice]))
            lines = captured.get().split("\n")[:-1]
            if not last:  # the next slice draws the line between the rows
                lines.pop()
            self.console.file.write("".join(self._cut(line) + "\n" for line in lines))

    def _cut(self, line: str) -> str:
        return line if cell_len(line) <= self.console.width else set_cell_size(line, self.console.width)

    @staticmethod
    def _filled(table: Table, rows: list[tuple[str, ...]]) -> Table:
        for cells in rows:
            table.add_row(*cells)
        return table

    def _widths(self, table: Table) -> list[int]:
        # What rich's own rendering of the whole table would take (Table.__rich_console__).
        options = self.console.options
        return table._calculate_column_widths(self.console, options.update_width(options.max_width - table._extra_width))
