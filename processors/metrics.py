"""The worker's figures for monitoring, in Prometheus' text format (`GET /metrics/`).

Owns the counters the agents bump as they go (inputs processed per topic,
dead letters per source topic, inputs skipped as decided before) and
`render`, which writes them beside the gauges the web view reads at scrape
time (`processors.web`: lag per partition, timers in flight, automations
loaded, readiness). Counters count from the process's start, as Prometheus
expects of counters: a restart resets them and `rate()` allows for it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

Labels = tuple[tuple[str, str], ...]

HELP: dict[str, tuple[str, str]] = {
    "automations_inputs_total": ("counter", "Inputs processed (school events, fired timers, control commands, delay and run records), by topic."),
    "automations_dead_letters_total": ("counter", "Inputs sent to the dead-letter topic, by the topic they came from."),
    "automations_inputs_decided_before_total": ("counter", "Inputs reprocessed from an old offset that decided nothing again (decided marks)."),
    "automations_inputs_acknowledged_before_total": ("counter", "Inputs delivered again whose outputs the broker had already acknowledged: not sent again."),
    "automations_agent_crashes_total": ("counter", "Agent crashes (Faust restarts the agent; the worker is unready for a minute after one), by agent."),
    "automations_input_lag": ("gauge", "Records in a partition this worker holds that its agent has not processed yet."),
    "automations_timers_in_flight": ("gauge", "Fired timers sent and not yet acknowledged by the learner processor."),
    "automations_definitions_loaded": ("gauge", "Automations (any status) in this worker's definitions table."),
    "automations_ready": ("gauge", "1 when the worker has loaded the definitions, holds partitions and no agent crashed in the last minute."),
}

_counts: Counter[tuple[str, Labels]] = Counter()


def count(name: str, amount: int = 1, **labels: str) -> None:
    _counts[(name, tuple(sorted(labels.items())))] += amount


def render(gauges: Iterable[tuple[str, dict[str, str], float]] = ()) -> str:
    """Every counter, then the gauges given, grouped by name with HELP and TYPE lines."""
    samples: dict[str, list[tuple[Labels, float]]] = {}
    for (name, labels), value in sorted(_counts.items()):
        samples.setdefault(name, []).append((labels, value))
    for name, labels, value in gauges:
        samples.setdefault(name, []).append((tuple(sorted(labels.items())), value))
    lines: list[str] = []
    for name, values in samples.items():
        kind, text = HELP[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in values]
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[tuple[str, Labels], float]:
    """The samples of `render`'s text, keyed like the counters (for tests and scripts)."""
    samples: dict[tuple[str, Labels], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.fullmatch(line)
        if match is None:
            continue  # HELP, TYPE, blank
        name, labels, value = match.groups()
        pairs = tuple(sorted((key, _unescaped(raw)) for key, raw in _LABEL.findall(labels or "")))
        samples[(name, pairs)] = float(value)
    return samples


_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescaped(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in labels) + "}"


def _escaped(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
