"""The worker's figures for monitoring, in Prometheus' text format (`GET /metrics/`).

Owns a `prometheus_client` registry of the module's own (not the library's
global one) and the small API the rest of the code calls: `count` bumps the
counters the agents keep as they go (inputs processed per topic, dead letters
per source topic, inputs skipped as decided before, ...), `observe` feeds the
histograms (timer lateness, batch sizes and times), and `render` writes them
all beside the figures read at scrape time (`processors.web`: lag per
partition, the stream task's transactions, automations loaded, readiness) and
the process's own (CPU, memory, file descriptors, Python version). `parse`
reads such a text back, for tests and scripts. Every name, kind and help text
is declared once, in HELP. Counters count from the process's start, as
Prometheus expects of counters: a restart resets them and `rate()` allows for it.
"""

from __future__ import annotations

import threading
from typing import Iterable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

Labels = tuple[tuple[str, str], ...]

# A counter's `_created` sample (its start time) would add a key per counter to every
# scrape and to `parse`; Prometheus needs none of it to compute rates. This setting is
# the library's and process-wide: the worker exposes no other registry.
prometheus_client.disable_created_metrics()

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

# The labels of the names that have some; the others have none.
LABELS: dict[str, tuple[str, ...]] = {
    "automations_inputs_total": ("topic",),
    "automations_dead_letters_total": ("source_topic",),
    "automations_agent_crashes_total": ("agent",),
    "automations_inputs_moved_total": ("topic",),
    "automations_transactions_total": ("outcome",),
    "automations_input_lag": ("topic", "partition"),
}

# Counters another object keeps (the stream task's statistics): given to `render` with
# the gauges, as `count` never sees them.
KEPT_ELSEWHERE = frozenset({"automations_transactions_total", "automations_restored_records_total"})
GIVEN_AT_SCRAPE = frozenset(name for name, (kind, _) in HELP.items() if kind == "gauge") | KEPT_ELSEWHERE

BUCKETS: dict[str, tuple[float, ...]] = {
    "automations_timer_lateness_seconds": (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    "automations_batch_records": (1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
    "automations_batch_seconds": (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
}


class _GivenAtScrape(Collector):
    """The figures handed to `render`, for the scrape under way in this thread.

    Every name of GIVEN_AT_SCRAPE has its HELP and TYPE lines, samples or not, like the
    declared counters; a name outside it, or labels other than LABELS', is a programming
    error and raises.
    """

    def __init__(self) -> None:
        self._scrape = threading.local()

    def given(self, figures: list[tuple[str, dict[str, str], float]]) -> None:
        self._scrape.figures = figures

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for name, (kind, text) in HELP.items():
            if name in GIVEN_AT_SCRAPE:
                family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                families[name] = family(name, text, labels=LABELS.get(name, ()))
        for name, labels, value in getattr(self._scrape, "figures", ()):
            if name not in families:
                raise ValueError(f"{name} is not given at scrape time (see metrics.GIVEN_AT_SCRAPE)")
            names = LABELS.get(name, ())
            if set(labels) != set(names):
                raise ValueError(f"{name} takes the labels {names}, not {tuple(labels)}")
            families[name].add_metric([str(labels[key]) for key in names], value)
        yield from families.values()


class _Registry:
    """A registry holding HELP's metrics, the figures given at scrape time and the process's.

    prometheus_client's metrics take a lock as they change: the stream task's thread
    counts while the web view renders on the event loop's.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)  # describing finds clashing names
        self.counters: dict[str, Counter] = {}
        self.histograms: dict[str, Histogram] = {}
        # Each counter's child per label values, as `labels()` gave it: the stream task counts
        # per input, and `labels()` checks the names and takes a lock at every call.
        self.children: dict[tuple, Counter] = {}
        for name, (kind, text) in HELP.items():
            if kind == "counter" and name not in KEPT_ELSEWHERE:
                self.counters[name] = Counter(name, text, LABELS.get(name, ()), registry=self.registry)
            elif kind == "histogram":
                self.histograms[name] = Histogram(name, text, buckets=BUCKETS[name], registry=self.registry)
        self.at_scrape = _GivenAtScrape()
        self.registry.register(self.at_scrape)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        PlatformCollector(registry=self.registry)  # python_info


_registry = _Registry()


def count(name: str, amount: int = 1, **labels: str) -> None:
    """Adds to a counter of HELP that `count` keeps (not one of KEPT_ELSEWHERE)."""
    if not labels:
        _registry.counters[name].inc(amount)
        return
    registry = _registry
    key = (name, *labels.items())
    child = registry.children.get(key)
    if child is None:
        child = registry.children[key] = registry.counters[name].labels(**labels)
    child.inc(amount)


def observe(name: str, value: float) -> None:
    """One observation of a histogram of BUCKETS."""
    _registry.histograms[name].observe(value)


def render(gauges: Iterable[tuple[str, dict[str, str], float]] = ()) -> str:
    """Every metric of the registry, with the figures given (name, labels, value) for this scrape."""
    _registry.at_scrape.given(list(gauges))
    return prometheus_client.generate_latest(_registry.registry).decode()


def parse(text: str) -> dict[tuple[str, Labels], float]:
    """The samples of a Prometheus text (`render`'s), keyed (sample name, sorted labels), for tests and scripts."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}
