"""The worker's metrics text: Prometheus' format, written and read back."""

from processors import metrics


def test_counters_and_gauges_are_written_with_help_and_type_and_read_back(monkeypatch):
    monkeypatch.setattr(metrics, "_counts", metrics.Counter())
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
        assert name.startswith("automations_") and kind in ("counter", "gauge") and text.endswith(".")
