"""Integration check that the project's local broker (python -m broker.kafka start)
answers real Kafka requests at 127.0.0.1:$AUTOMATIONS_BROKER_PORT."""

import pytest

from broker import kafka

pytestmark = pytest.mark.integration


def test_broker_answers_api_versions():
    port = kafka.resolve_port()
    try:
        versions = kafka.api_versions("127.0.0.1", port, timeout=5)
    except OSError as exc:
        pytest.fail(f"no broker at 127.0.0.1:{port} ({exc}); run: python -m broker.kafka start")
    for api in (0, 1, 3, 19):  # Produce, Fetch, Metadata, CreateTopics: what the engine uses
        assert api in versions, api
