"""Topics in the Confluent wire format, as analysts' tools read them, on the real broker.

With AUTOMATIONS_SCHEMA_REGISTRY_URL set, the worker, the API and the CLI write
every topic as 0x00 + a schema id registered under `<topic>-value` (BACKWARD);
confluent-kafka's own `AvroDeserializer` reads them, as kafka-avro-console-consumer,
ksqlDB or Kafka Connect would. The registry is tests/registry_server.py (no
registry server installs here; docker-compose.yml runs Confluent's). A topic
holding both framings, from an installation that switched, is read without loss;
a registry that does not answer keeps the worker and the API not ready, saying
why, and loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from engine import lifecycle as lc
from engine.values import as_json
from engine.school_events import SchoolEvent
from processors import definitions_log, schema_registry
from processors.kafka_io import ensure_topics, read_to_end
from schemas import codec
from tests.integration.api_harness import ApiServer
from tests.integration.harness import ROOT, Worker, delete_topics, free_port, isolated_settings
from tests.registry_server import RegistryServer
from tests.unit.projection_world import automation

pytestmark = pytest.mark.integration

TOPICS = ("school_events", "definitions", "actions", "run_status", "automation_runs", "receipts")


@pytest.fixture
def registry():
    server = RegistryServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def writing_with(request):
    """This test process writes (as the CLI would) in the framing of the URL given; single-object after."""

    def use(settings, url: str | None):
        schema_registry.install(replace(settings, schema_registry_url=url or ""))

    yield use
    codec.use_schema_registry(None)


def tagged(number: int, tag: str = "welcome") -> SchoolEvent:
    return SchoolEvent(id=f"{tag}-{number}", type="user.tag_added", school="s1", user=f"u{number}",
                       occurred_at=datetime.now(timezone.utc), data={"tag": tag})


WELCOME = automation("welcome", {"event": "user.tag_added", "tag": "welcome"},
                     [{"id": "hello", "type": "send_email", "template": "welcome"}])


def raw_values(settings, name: str) -> list[bytes]:
    async def read():
        return [record.value async for record in read_to_end(settings, name)]

    return asyncio.run(read())


def as_an_analyst(url: str, settings, topic_attribute: str) -> list[dict]:
    """Every value of the topic through confluent-kafka's AvroDeserializer: Confluent framing or an error."""
    name = getattr(settings.topics, topic_attribute)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": url}))
    context = SerializationContext(name, MessageField.VALUE)
    return [deserializer(value, context) for value in raw_values(settings, name)]


def readme_block(language: str, after: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after):]
    start = rest.index(f"```{language}\n") + len(f"```{language}\n")
    return rest[start:rest.index("```\n", start)]


def with_ours(recipe: str, url: str, settings) -> str:
    return (recipe.replace("http://127.0.0.1:8081", url).replace("127.0.0.1:9092", settings.bootstrap_servers)
            .replace("automations.run-status", settings.topics.run_status))


def run_readme_recipe(language: str, url: str, settings) -> str:
    """The README's analyst recipe in `language`, as written there, on this test's broker, registry and topic."""
    recipe = with_ours(readme_block(language, "Reading with confluent-kafka's `AvroDeserializer`"), url, settings)
    command = [sys.executable, "-c", recipe] if language == "python" else ["bash", "-euo", "pipefail", "-c", recipe]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120).stdout


def kcat_reads_avro() -> bool:
    kcat = shutil.which("kcat")
    return kcat is not None and "avro" in subprocess.run([kcat, "-h"], capture_output=True, text=True).stderr.lower()


def ready_answer(port: int, path: str = "/ready/") -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def until(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as error:  # not listening yet
            last = error
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout}s; last: {last}")


def test_worker_and_api_with_a_registry_write_every_topic_for_avro_deserializer(start_worker, registry, writing_with, tmp_path):
    settings = isolated_settings(4)
    worker = start_worker(settings=settings, extra_env={"AUTOMATIONS_SCHEMA_REGISTRY_URL": registry.url})
    writing_with(settings, registry.url)
    worker.save_and_activate(WELCOME)
    api = ApiServer(worker, tmp_path, ["s1"]).start()
    try:
        first, second = tagged(1), tagged(2)
        status, _ = api.school("s1", "POST", "/events", as_json(first))
        assert status in (200, 202), status
        worker.send([second], want_receipts=True)
        worker.wait_for("actions", lambda found: len(found) >= 2)
        until("both runs in the API", lambda: api.school("s1", "GET", "/learners/u2/runs")[1])
    finally:
        api.stop()

    for topic in TOPICS:
        values = raw_values(settings, getattr(settings.topics, topic))
        assert values and all(value[:1] == b"\x00" for value in values), f"{topic}: {[v[:5] for v in values]}"
    actions = as_an_analyst(registry.url, settings, "actions")
    assert sorted(a["user"] for a in actions) == ["u1", "u2"] and {a["template"] for a in actions} == {"welcome"}
    runs = as_an_analyst(registry.url, settings, "run_status")
    assert {r["kind"] for r in runs} >= {"run_started", "step_recorded", "run_status_changed"}
    events = as_an_analyst(registry.url, settings, "school_events")
    assert sorted(e["id"] for e in events) == ["welcome-1", "welcome-2"]
    assert as_an_analyst(registry.url, settings, "receipts")[0]["event_id"] == "welcome-2"
    assert as_an_analyst(registry.url, settings, "definitions")[-1]["automation_id"] == "welcome"

    printed = run_readme_recipe("python", registry.url, settings)
    assert printed.count("run_started") == 2 and "fulfilled" in printed, printed

    for topic in TOPICS:
        name = getattr(settings.topics, topic)
        assert f"{name}-value" in registry.state.subjects
        assert registry.state.config[f"{name}-value"] == "BACKWARD"
    # Ids are learned once per schema and process, not per record.
    assert registry.state.calls["GET /schemas/ids/{id}"] <= 3 * len(TOPICS)


def test_a_topic_holding_both_framings_is_read_without_loss(start_worker, registry, writing_with):
    settings = isolated_settings(4)
    worker = start_worker(settings=settings)  # single-object encoding, as before a switch
    worker.save_and_activate(WELCOME)
    worker.send([tagged(n) for n in range(10)])
    worker.wait_for("actions", lambda found: len(found) >= 10)
    worker.stop()

    # The switch, mid-stream: events written while no worker runs, half in each framing.
    worker.send([tagged(n) for n in range(10, 15)])
    writing_with(settings, registry.url)
    worker.send([tagged(n) for n in range(15, 20)])
    worker.extra_env["AUTOMATIONS_SCHEMA_REGISTRY_URL"] = registry.url
    worker.start()

    actions = worker.wait_for("actions", lambda found: len(found) >= 20)
    assert sorted(int(a["user"][1:]) for a in actions) == list(range(20)), "every learner once, none lost"
    assert not worker.records("dead_letter")
    framings = {value[:1] for value in raw_values(settings, settings.topics.school_events)}
    assert framings == {b"\xc3", b"\x00"}
    assert {value[:1] for value in raw_values(settings, settings.topics.actions)} == {b"\xc3", b"\x00"}


def test_an_unreachable_registry_keeps_the_worker_and_api_not_ready_saying_why_and_loses_nothing(writing_with, tmp_path):
    settings = isolated_settings(4)
    port = free_port()
    url = f"http://127.0.0.1:{port}"  # nothing listens there yet
    asyncio.run(ensure_topics(settings))
    now = datetime.now(timezone.utc)
    for command in (lc.SaveAutomation(automation=WELCOME, now=now), lc.ActivateAutomation(automation_id="welcome", now=now)):
        asyncio.run(definitions_log.execute(settings, command))
    worker = Worker(settings, tmp_path / "worker", tmp_path / "worker.log", {"AUTOMATIONS_SCHEMA_REGISTRY_URL": url})
    worker.wait_ready = lambda timeout: None
    worker.start()
    api = ApiServer(worker, tmp_path, ["s1"])
    api_log = open(api.log_path, "a")
    api.process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "api"], env=api.env(), stdout=api_log,
                                   stderr=api_log, cwd=ROOT, start_new_session=True)
    registry = RegistryServer(port)
    try:
        worker.send([tagged(n) for n in range(5)])  # single-object, from before the outage

        status, body = until("the worker's 503 naming the registry", lambda: (lambda a: a if any(
            "schema registry" in p for p in a[1].get("problems", [])) else None)(ready_answer(worker.web_port)))
        assert status == 503 and any(f"{url} unreachable" in p for p in body["problems"]), body
        status, body = until("the API's 503 naming the registry",
                             lambda: (lambda a: a if "schema_registry" in a[1] else None)(api._call("GET", "/ready")))
        assert status == 503 and f"{url} unreachable" in body["schema_registry"], body
        status, body = api.school("s1", "POST", "/events", as_json(tagged(5)))
        # The API's views wait for the registry (their records may be Confluent-framed): a 503 sends callers to /ready.
        assert status == 503 and "see GET /ready" in body["error"], (status, body)
        assert not raw_values(settings, settings.topics.actions), "nothing is processed while not ready"

        registry.start()
        until("the worker ready", lambda: ready_answer(worker.web_port)[0] == 200)
        until("the API ready", lambda: api._call("GET", "/ready")[0] == 200)
        status, _ = api.school("s1", "POST", "/events", as_json(tagged(5)))
        assert status in (200, 202)
        writing_with(settings, url)
        actions = worker.wait_for("actions", lambda found: len(found) >= 6)
        assert sorted(a["user"] for a in actions) == [f"u{n}" for n in range(6)]
        assert not worker.records("dead_letter")
    finally:
        api.stop()
        worker.stop()
        registry.stop()
        delete_topics(settings)


@pytest.mark.skipif(not kcat_reads_avro(), reason="this kcat is built without Avro (libserdes): Debian's 1.7.1 has no "
                    "-s avro and no -r, as the README says; AvroDeserializer reads the topics in the test above")
def test_the_readmes_kcat_recipe_reads_the_confluent_framing(start_worker, registry, writing_with):
    settings = isolated_settings(4)
    worker = start_worker(settings=settings, extra_env={"AUTOMATIONS_SCHEMA_REGISTRY_URL": registry.url})
    writing_with(settings, registry.url)
    worker.save_and_activate(WELCOME)
    worker.send([tagged(1)])
    worker.wait_for("actions", lambda found: len(found) >= 1)
    recipe = with_ours(readme_block("sh", "With kcat built with Avro support"), registry.url, settings)
    printed = subprocess.run(["bash", "-euo", "pipefail", "-c", recipe], capture_output=True, text=True, check=True,
                             timeout=60).stdout
    assert "run_started" in printed
