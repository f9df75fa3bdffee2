"""The worker's metrics text: Prometheus' format from prometheus_client, written and read back."""

import sys

import pytest

from processors import metrics


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test counts from zero, on a registry of its own."""
    monkeypatch.setattr(metrics, "_registry", metrics._Registry())


def test_counters_and_figures_given_are_written_with_help_and_type_and_read_back_under_todays_names():
    metrics.count("automations_inputs_total", topic="school-events")
    metrics.count("automations_inputs_total", 2, topic="school-events")
    metrics.count("automations_dead_letters_total", source_topic='odd "topic"\\\n')

    text = metrics.render([("automations_input_lag", {"topic": "school-events", "partition": "3"}, 7),
                           ("automations_transactions_total", {"outcome": "committed"}, 5),
                           ("automations_ready", {}, 1)])

    assert "# TYPE automations_inputs_total counter\n" in text
    assert 'automations_inputs_total{topic="school-events"} 3.0\n' in text
    assert 'automations_dead_letters_total{source_topic="odd \\"topic\\"\\\\\\n"} 1.0\n' in text
    assert "# TYPE automations_input_lag gauge\n" in text and "automations_ready 1.0\n" in text
    assert "# TYPE automations_transactions_total counter\n" in text
    ours = {key: value for key, value in metrics.parse(text).items()
            if key[0].startswith("automations_") and not key[0].startswith(tuple(metrics.BUCKETS))}
    assert ours == {
        ("automations_dead_letters_total", (("source_topic", 'odd "topic"\\\n'),)): 1.0,
        ("automations_inputs_total", (("topic", "school-events"),)): 3.0,
        # counters without labels are exposed from the start, at 0
        ("automations_inputs_decided_before_total", ()): 0.0,
        ("automations_timers_fired_total", ()): 0.0,
        ("automations_input_lag", (("partition", "3"), ("topic", "school-events"))): 7.0,
        ("automations_transactions_total", (("outcome", "committed"),)): 5.0,
        ("automations_ready", ()): 1.0,
    }


def test_no_sample_is_named_created_or_twice_total():
    metrics.count("automations_agent_crashes_total", agent="stream-task")
    metrics.observe("automations_timer_lateness_seconds", 0.2)

    names = {name for name, _ in metrics.parse(metrics.render([("automations_restored_records_total", {}, 3)]))}

    assert not {name for name in names if name.endswith(("_created", "_total_total"))}
    assert {"automations_agent_crashes_total", "automations_restored_records_total"} <= names


def test_figures_given_count_for_one_scrape_only():
    metrics.render([("automations_kafka_reachable", {}, 1)])

    assert ("automations_kafka_reachable", ()) not in metrics.parse(metrics.render())


def test_every_name_has_its_help_and_type_in_the_text_figures_given_or_not():
    text = metrics.render()

    for name, (kind, help_text) in metrics.HELP.items():
        assert name.startswith("automations_") and kind in ("counter", "gauge", "histogram") and help_text.endswith(".")
        assert f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n" in text, name
    assert set(metrics.LABELS) <= set(metrics.HELP) and metrics.KEPT_ELSEWHERE <= set(metrics.HELP)


def test_a_histogram_counts_each_observation_in_its_bucket_and_every_wider_one():
    for seconds in (0.01, 0.3, 0.3, 1_000):
        metrics.observe("automations_batch_seconds", seconds)

    text = metrics.render()
    samples = metrics.parse(text)

    assert "# TYPE automations_batch_seconds histogram\n" in text
    assert samples[("automations_batch_seconds_bucket", (("le", "0.01"),))] == 1
    assert samples[("automations_batch_seconds_bucket", (("le", "0.25"),))] == 1
    assert samples[("automations_batch_seconds_bucket", (("le", "0.5"),))] == 3
    assert samples[("automations_batch_seconds_bucket", (("le", "+Inf"),))] == 4
    assert samples[("automations_batch_seconds_count", ())] == 4
    assert samples[("automations_batch_seconds_sum", ())] == 1_000.61


def test_each_histogram_keeps_its_buckets():
    samples = metrics.parse(metrics.render())

    def bounds(name):
        return " ".join(labels[0][1] for sample, labels in samples if sample == f"{name}_bucket")

    assert bounds("automations_timer_lateness_seconds") == "0.05 0.1 0.25 0.5 1.0 2.5 5.0 10.0 30.0 60.0 300.0 +Inf"
    assert bounds("automations_batch_records") == "1.0 10.0 50.0 100.0 250.0 500.0 1000.0 2000.0 5000.0 +Inf"
    assert bounds("automations_batch_seconds") == "0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1.0 2.5 +Inf"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prometheus_client reads the process's figures in /proc")
def test_the_process_cpu_and_memory_are_there():
    samples = metrics.parse(metrics.render())

    assert samples[("process_cpu_seconds_total", ())] > 0
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert samples[("process_open_fds", ())] > 0
    assert [name for name, _ in samples if name == "python_info"] == ["python_info"]


def test_a_name_or_labels_unlike_the_tables_are_refused():
    with pytest.raises(ValueError, match="automations_inputs_total is not given at scrape time"):
        metrics.render([("automations_inputs_total", {"topic": "school-events"}, 1)])
    with pytest.raises(ValueError, match="automations_input_lag takes the labels"):
        metrics.render([("automations_input_lag", {"topic": "school-events"}, 1)])
    with pytest.raises(KeyError):
        metrics.count("automations_transactions_total", outcome="committed")  # kept by the stream task
    with pytest.raises(ValueError):
        metrics.count("automations_inputs_total")  # its topic is missing
