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
    "automations_agent_crashes_total": ("counter", "Failures of the stream task or an agent (the worker is unready for a minute after one), by agent."),
    "automations_inputs_moved_total": ("counter", "Inputs found in another partition than their key's (another partitioner than murmur2) and moved to their learner's partition, by topic."),
    "automations_timers_fired_total": ("counter", "Timers fired by the learner processor."),
    "automations_transactions_total": ("counter", "Kafka transactions of the stream task, by outcome (committed, aborted)."),
    "automations_restored_records_total": ("counter", "Changelog records applied to this worker's stores while restoring them."),
    "automations_timer_lateness_seconds": ("histogram", "How long after its due time a timer fired."),
    "automations_batch_records": ("histogram", "Records consumed per batch of the stream task."),
    "automations_batch_seconds": ("histogram", "Time to process and commit one batch of the stream task."),
    "automations_input_lag": ("gauge", "Records in a partition this worker holds that it has not processed yet."),
    "automations_partitions_restoring": ("gauge", "Store partitions this worker is restoring from their changelogs."),
    "automations_kafka_reachable": ("gauge", "1 while the stream task's Kafka clients reach the broker."),
    "automations_definitions_loaded": ("gauge", "Automations (any status) in this worker's definitions table."),
    "automations_ready": ("gauge", "1 when the worker has loaded the definitions, holds partitions and no agent crashed in the last minute."),
}

_counts: Counter[tuple[str, Labels]] = Counter()

BUCKETS: dict[str, tuple[float, ...]] = {
    "automations_timer_lateness_seconds": (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    "automations_batch_records": (1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
    "automations_batch_seconds": (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
}
# name -> [count per bucket (the last: +Inf), sum]
_histograms: dict[str, tuple[list[int], list[float]]] = {}


def count(name: str, amount: int = 1, **labels: str) -> None:
    _counts[(name, tuple(sorted(labels.items())))] += amount


def observe(name: str, value: float) -> None:
    """One observation of a histogram of BUCKETS."""
    buckets = BUCKETS[name]
    counts, total = _histograms.setdefault(name, ([0] * (len(buckets) + 1), [0.0]))
    index = next((i for i, bound in enumerate(buckets) if value <= bound), len(buckets))
    counts[index] += 1
    total[0] += value


def _histogram_samples() -> list[tuple[str, Labels, float]]:
    found = []
    for name, (counts, total) in sorted(_histograms.items()):
        running = 0
        for bound, amount in zip((*BUCKETS[name], float("inf")), counts):
            running += amount
            found.append((f"{name}_bucket", (("le", "+Inf" if bound == float("inf") else repr(float(bound))),), running))
        found.append((f"{name}_sum", (), total[0]))
        found.append((f"{name}_count", (), running))
    return found


def render(gauges: Iterable[tuple[str, dict[str, str], float]] = ()) -> str:
    """Every counter, then the gauges given, grouped by name with HELP and TYPE lines."""
    samples: dict[str, list[tuple[Labels, float]]] = {}
    for (name, labels), value in sorted(_counts.items()):
        samples.setdefault(name, []).append((labels, value))
    for name, labels, value in gauges:
        samples.setdefault(name, []).append((tuple(sorted(labels.items())), value))
    series: dict[str, list[tuple[str, Labels, float]]] = {}
    for name, labels, value in _histogram_samples():
        series.setdefault(name.rsplit("_", 1)[0], []).append((name, labels, value))
    lines: list[str] = []
    for name, values in samples.items():
        kind, text = HELP[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in values]
    for name, values in series.items():
        kind, text = HELP[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{sample}{_labels(labels)} {_number(value)}" for sample, labels, value in values]
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
