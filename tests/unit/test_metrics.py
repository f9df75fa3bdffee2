"""The worker's metrics text: Prometheus' format, written and read back."""

from processors import metrics


def test_counters_and_gauges_are_written_with_help_and_type_and_read_back(monkeypatch):
    monkeypatch.setattr(metrics, "_counts", metrics.Counter())
    monkeypatch.setattr(metrics, "_histograms", {})
    metrics.count("automations_inputs_total", topic="school-events")
    metrics.count("automations_inputs_total", topic="school-events")
    metrics.count("automations_dead_letters_total", source_topic='odd "topic"\\\n')

    text = metrics.render([("automations_input_lag", {"topic": "school-events", "partition": "3"}, 7),
                           ("automations_ready", {}, 1)])

    assert "# TYPE automations_inputs_total counter\n" in text
    assert 'automations_inputs_total{topic="school-events"} 2\n' in text
    assert 'automations_dead_letters_total{source_topic="odd \\"topic\\"\\\\\\n"} 1\n' in text
    assert "# TYPE automations_input_lag gauge\n" in text and "automations_ready 1\n" in text
    assert metrics.parse(text) == {
        ("automations_dead_letters_total", (("source_topic", 'odd "topic"\\\n'),)): 1.0,
        ("automations_inputs_total", (("topic", "school-events"),)): 2.0,
        ("automations_input_lag", (("partition", "3"), ("topic", "school-events"))): 7.0,
        ("automations_ready", ()): 1.0,
    }


def test_every_name_has_its_help():
    for name, (kind, text) in metrics.HELP.items():
        assert name.startswith("automations_") and kind in ("counter", "gauge", "histogram") and text.endswith(".")


def test_a_histogram_counts_each_observation_in_its_bucket_and_every_wider_one(monkeypatch):
    monkeypatch.setattr(metrics, "_counts", metrics.Counter())
    monkeypatch.setattr(metrics, "_histograms", {})
    for seconds in (0.01, 0.3, 0.3, 1_000):
        metrics.observe("automations_batch_seconds", seconds)

    samples = metrics.parse(metrics.render())

    assert "# TYPE automations_batch_seconds histogram" in metrics.render()
    assert samples[("automations_batch_seconds_bucket", (("le", "0.01"),))] == 1
    assert samples[("automations_batch_seconds_bucket", (("le", "0.25"),))] == 1
    assert samples[("automations_batch_seconds_bucket", (("le", "0.5"),))] == 3
    assert samples[("automations_batch_seconds_bucket", (("le", "+Inf"),))] == 4
    assert samples[("automations_batch_seconds_count", ())] == 4
    assert samples[("automations_batch_seconds_sum", ())] == 1_000.61
