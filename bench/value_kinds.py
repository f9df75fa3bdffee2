"""Which kind of immutable value the engine builds: cost per operation of each candidate.

One value shaped as the engine's most built one (`RunStarted`: 13 fields, three with
defaults) and one shaped as a run record, in four kinds: the frozen pydantic model
the engine used (built through the written-out constructor in
`bench/pydantic_builder.py`, once `engine.trusted`, the engine's fast path then), a slotted frozen dataclass, a named tuple, and a frozen
msgspec Struct without GC tracking. Per kind: build with keywords, read an
attribute, copy with one change, and msgpack encode + decode of the run record
(msgspec encodes and decodes all three plain kinds). CPU time
(`time.process_time`), rounds interleaved across kinds, best round reported.

    python bench/value_kinds.py [--rounds 7] [--n 200000]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from pydantic import BaseModel, ConfigDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AT = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)


class PydanticRunStarted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    type: str = "run_started"
    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int
    mode: str
    trigger_id: str | None
    trigger_event_id: str | None
    replay_of: str | None = None
    cause: tuple[str, ...] = ()
    at: datetime
    trace: list[dict[str, Any]] = []


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DataclassRunStarted:
    type: str = "run_started"
    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int
    mode: str
    trigger_id: str | None
    trigger_event_id: str | None
    replay_of: str | None = None
    cause: tuple[str, ...] = ()
    at: datetime
    trace: list = dataclasses.field(default_factory=list)


class TupleRunStarted(NamedTuple):
    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int
    mode: str
    trigger_id: str | None
    trigger_event_id: str | None
    at: datetime
    replay_of: str | None = None
    cause: tuple[str, ...] = ()
    trace: list = []
    type: str = "run_started"


class StructRunStarted(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    type: str = "run_started"
    run_id: str
    school: str
    user: str
    automation_id: str
    automation_version: int
    mode: str
    trigger_id: str | None
    trigger_event_id: str | None
    replay_of: str | None = None
    cause: tuple[str, ...] = ()
    at: datetime
    trace: list = []


FIELDS = dict(run_id="run-1", school="s", user="u", automation_id="a", automation_version=3, mode="asynchronous",
              trigger_id="t", trigger_event_id="evt-1", at=AT, trace=[])


def _pydantic_builder():
    from bench.pydantic_builder import builder
    return builder(PydanticRunStarted)


def replace_of(kind: str):
    if kind == "pydantic":
        from bench.pydantic_builder import copy_with
        return lambda value: copy_with(value, {"run_id": "run-2"})
    if kind == "dataclass":
        return lambda value: dataclasses.replace(value, run_id="run-2")
    if kind == "namedtuple":
        return lambda value: value._replace(run_id="run-2")
    return lambda value: msgspec.structs.replace(value, run_id="run-2")


KINDS = {
    "pydantic": (_pydantic_builder, PydanticRunStarted),
    "dataclass": (lambda: DataclassRunStarted, DataclassRunStarted),
    "namedtuple": (lambda: TupleRunStarted, TupleRunStarted),
    "msgspec": (lambda: StructRunStarted, StructRunStarted),
}


def measure(kind: str, n: int) -> dict[str, float]:
    build, cls = KINDS[kind][0](), KINDS[kind][1]
    figures: dict[str, float] = {}
    fields = FIELDS
    started = time.process_time()
    for _ in range(n):
        build(**fields)
    figures["build"] = (time.process_time() - started) / n
    value = build(**fields)
    started = time.process_time()
    for _ in range(n):
        value.run_id; value.school; value.user; value.automation_id; value.at  # noqa: B018
    figures["read"] = (time.process_time() - started) / n / 5
    replace = replace_of(kind)
    started = time.process_time()
    for _ in range(n):
        replace(value)
    figures["replace"] = (time.process_time() - started) / n
    if kind != "pydantic":
        encoder, decoder = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(cls)
        started = time.process_time()
        for _ in range(n):
            decoder.decode(encoder.encode(value))
        figures["msgpack"] = (time.process_time() - started) / n
    else:
        started = time.process_time()
        for _ in range(n // 10):
            cls.model_validate_json(value.model_dump_json())
        figures["msgpack"] = (time.process_time() - started) / (n // 10)  # JSON: pydantic has no msgpack
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for kind in KINDS:
            for name, seconds in measure(kind, args.n).items():
                best.setdefault(kind, {})[name] = min(best.get(kind, {}).get(name, seconds), seconds)
    print(f"{'kind':<11} {'build':>9} {'read':>9} {'replace':>9} {'encode+decode':>14}  (ns, best of {args.rounds} rounds)")
    for kind, figures in best.items():
        print(f"{kind:<11} {figures['build'] * 1e9:9.0f} {figures['read'] * 1e9:9.1f} {figures['replace'] * 1e9:9.0f} "
              f"{figures['msgpack'] * 1e9:14.0f}" + ("  (pydantic: JSON)" if kind == "pydantic" else ""))


if __name__ == "__main__":
    main()
