"""`automations dead-letters list|resend`: what was refused, and sending it again once it is fixed.

Every input a worker cannot decode or refuses goes to the dead-letter topic
with the reason, where it came from and its bytes (`processors.dead_letters`).
`list` shows them. `resend` puts school events among them back on the
school-events topic, as new records under their original key, after the cause
was fixed: a producer that sent a newer schema the workers now know, an event
type added in an upgrade. Reprocessing the partition (`partitions replay`)
would not do it: a learner's worker takes every input older than its last
decided one for decided (`processors.learner_store`), and the refused one is
older.

Before sending, each candidate goes through the same decoding and key check
as the learner processor's, so only what the current code accepts is sent;
the rest is listed with today's reason (`--include-refused` sends those too).
A dead letter that kept only the start of an oversized input, or none of it
(an engine rejection), cannot be sent again. Sending the same dead letter
twice sends its event twice: the engine takes the second for a re-delivery
(the same event id makes the same run ids), but send each once. One run of
`resend` sends an input once, however many dead letters it has (an input
refused again when its partition was reprocessed has two).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Optional

import typer
from rich.table import Table

from console.errors import CliError
from console.output import FORMAT_HELP, JSONL, output_format, say_if_cut, table_console
from processors import config
from processors.dead_letters import MAX_VALUE_KEPT
from processors.kafka_io import produce, read_to_end
from processors.records import Undecodable, learner_input, school_event_command
from schemas.codec import DecodeError, decode

app = typer.Typer(help="Inspect refused input, and send school events again once fixed.", no_args_is_help=True)
TRUNCATED = "(dead letter keeps the first"


@dataclass(frozen=True)
class DeadLetter:
    partition: int  # where the dead letter itself sits
    offset: int
    record: dict  # the decoded DeadLetter record

    @property
    def source(self) -> str:
        return f"{self.record['source_topic']}/{self.record['partition']}/{self.record['offset']}"

    def as_json(self) -> dict:
        value = self.record["value"]
        return {
            "dead_letter": f"{self.partition}/{self.offset}",
            "source": self.source,
            "key": self.record["key"],
            "reason": self.record["reason"],
            "received_at": self.record["received_at"].isoformat(),
            "value_bytes": len(value),
        }


def why_not_sendable(letter: DeadLetter, school_events_topic: str, decodes: Callable[[str | None, bytes], str | None]) -> str | None:
    """None if `letter` can go back on the school-events topic; else why not."""
    record = letter.record
    if record["source_topic"] != school_events_topic:
        return f"came from {record['source_topic']}, not the school-events topic"
    if TRUNCATED in record["reason"] or len(record["value"]) > MAX_VALUE_KEPT:
        return "only the start of the input was kept (it was over the size limit)"
    if not record["value"]:
        return "no bytes were kept (an engine rejection, or an empty input)"
    return decodes(record["key"], record["value"])


def choose(letters: list[DeadLetter], school_events_topic: str, decodes: Callable[[str | None, bytes], str | None],
           include_refused: bool = False) -> tuple[list[DeadLetter], list[tuple[DeadLetter, str]]]:
    """The dead letters to send, and the others with why not. An input refused again (its
    partition reprocessed) has a dead letter per refusal; its event is sent once."""
    chosen: list[DeadLetter] = []
    left: list[tuple[DeadLetter, str]] = []
    sources: set[str] = set()
    for letter in letters:
        if letter.source in sources:
            why: str | None = "another dead letter of the same input is sent"
        else:
            why = why_not_sendable(letter, school_events_topic, decodes)
        if why is None or (include_refused and why.startswith("still refused")):
            chosen.append(letter)
            sources.add(letter.source)
        else:
            left.append((letter, why))
    return chosen, left


def refusal_today(topic: str) -> Callable[[str | None, bytes], str | None]:
    """The learner processor's decoding and key check, as it is now: None if accepted."""

    def check(key: str | None, value: bytes) -> str | None:
        message = SimpleNamespace(topic=topic, key=key.encode() if key is not None else None, value=value)
        try:
            learner_input({topic: school_event_command}, message)
        except Undecodable as error:
            return f"still refused: {error}"
        return None

    return check


async def _read(settings) -> list[DeadLetter]:
    letters = []
    async for item in read_to_end(settings, settings.topics.dead_letter):
        try:
            letters.append(DeadLetter(item.partition, item.offset, decode("dead_letter", item.value)))
        except DecodeError as error:
            typer.echo(f"dead letter {item.partition}/{item.offset} is unreadable itself: {error}", err=True)
    return sorted(letters, key=lambda letter: letter.record["received_at"])


def _matching(letters: list[DeadLetter], reason_contains: Optional[str], inputs: list[str]) -> list[DeadLetter]:
    if reason_contains:
        letters = [letter for letter in letters if reason_contains in letter.record["reason"]]
    if inputs:
        wanted = set(_positions(inputs))
        letters = [letter for letter in letters if (letter.record["partition"], letter.record["offset"]) in wanted]
    return letters


def _positions(inputs: list[str]) -> list[tuple[int, int]]:
    """(partition, offset) of each --input, as numbers (so 01/100 is 1/100)."""
    found = []
    for item in inputs:
        partition, _, offset = item.partition("/")
        if not (partition.isascii() and partition.isdigit() and offset.isascii() and offset.isdigit()):
            raise CliError(f"--input takes PARTITION/OFFSET of the source topic, such as 3/1042; got {item!r}")
        found.append((int(partition), int(offset)))
    return found


REASON = typer.Option(None, "--reason-contains", help="Only dead letters whose reason holds this text.")
INPUT = typer.Option([], "--input", help="Only the input at PARTITION/OFFSET of its source topic (repeatable).")


@app.command("list")
def list_dead_letters(
    reason_contains: Optional[str] = REASON,
    inputs: list[str] = INPUT,
    limit: int = typer.Option(50, min=1, help="Show at most this many, the newest."),
    every: bool = typer.Option(False, "--all", help="Every dead letter, however many (instead of --limit)."),
    output: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Show refused input: where it came from, its key and why it was refused."""
    output = output_format(output)
    _positions(inputs)
    letters = _matching(asyncio.run(_read(config.load())), reason_contains, inputs)
    shown = letters if every else letters[-limit:]
    say_if_cut(len(shown), len(letters), "dead letters")
    if output == JSONL:
        for letter in shown:
            typer.echo(json.dumps(letter.as_json()))
        return
    table = Table(title=f"{len(shown)} of {len(letters)} dead letter(s)")
    for column in ("received at", "source (topic/partition/offset)", "key", "reason"):
        table.add_column(column, overflow="fold")
    for letter in shown:
        row = letter.as_json()
        table.add_row(row["received_at"], row["source"], row["key"] or "", row["reason"])
    table_console().print(table)


@app.command()
def resend(
    reason_contains: Optional[str] = REASON,
    inputs: list[str] = INPUT,
    include_refused: bool = typer.Option(False, help="Also send those the current code still refuses (they come back)."),
    dry_run: bool = typer.Option(False, help="Say what would be sent; send nothing."),
) -> None:
    """Send refused school events again, as new records on the school-events topic."""
    _positions(inputs)
    settings = config.load()
    topic = settings.topics.school_events
    letters = _matching(asyncio.run(_read(settings)), reason_contains, inputs)
    chosen, left = choose(letters, topic, refusal_today(topic), include_refused)
    for letter, why in left:
        typer.echo(f"not sent: {letter.source}: {why}")
    if dry_run:
        for letter in chosen:
            typer.echo(f"would send: {letter.source} (key {letter.record['key']})")
        typer.echo(f"{len(chosen)} would be sent, {len(left)} not (dry run)")
        return
    records = [(letter.record["key"], letter.record["value"]) for letter in chosen]
    sent = asyncio.run(produce(settings, topic, records)) if records else 0
    typer.echo(f"sent {sent} school event(s) again to {topic}; {len(left)} not sent")
