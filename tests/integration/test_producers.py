"""School events from ordinary producers, as the README's recipes write them: JSON values,
keyed `school:user`, with each client's default partitioner.

Kafka's console producer (Java's murmur2) puts each in its learner's partition at once.
librdkafka's default partitioner (confluent-kafka's, kcat's) is not Java's murmur2, so
many records land in another partition than the one their learner lives in. The worker
moves each to its learner's partition before applying it (counted in
`automations_inputs_moved_total`), so every learner's run starts once and sends its email
once, whichever client wrote the events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.integration.harness import ROOT
from tests.integration.test_kcat import kcat  # noqa: F401 - the fixture
from tests.unit.projection_world import automation

pytestmark = pytest.mark.integration

LEARNERS = 40


def event(number: int, tag: str = "new") -> dict:
    return {"id": f"{tag}-{number}", "type": "user.tag_added", "school": "s1", "user": f"u{number}",
            "occurred_at": datetime.now(timezone.utc).isoformat(), "data": {"tag": tag}}


def moved(worker) -> float:
    return sum(value for (name, _), value in worker.metrics().items() if name == "automations_inputs_moved_total")


def every_learner_welcomed_once(worker, tag: str) -> None:
    actions = worker.wait_for("actions", lambda found: len([a for a in found if a["template"] == tag]) >= LEARNERS)
    keys = [a["idempotency_key"] for a in actions if a["template"] == tag]
    assert len(keys) == len(set(keys)) == LEARNERS
    assert {a["user"] for a in actions if a["template"] == tag} == {f"u{n}" for n in range(LEARNERS)}
    assert not worker.records("dead_letter")


@pytest.fixture
def worker(start_worker):
    started = start_worker(partitions=8)
    for tag in ("python", "kcat"):
        started.save_and_activate(automation(f"welcome-{tag}", {"event": "user.tag_added", "tag": tag},
                                             [{"id": "hello", "type": "send_email", "template": tag}]))
    return started


def test_json_events_from_confluent_kafkas_default_producer_reach_their_learners_once(worker):
    # The README's Python recipe: confluent-kafka with its defaults, the JSON contract, keyed school:user.
    producer = Producer({"bootstrap.servers": worker.settings.bootstrap_servers})
    for number in range(LEARNERS):
        value = event(number, "python")
        producer.produce(worker.settings.topics.school_events, key=f"{value['school']}:{value['user']}",
                         value=json.dumps(value))
    assert producer.flush(30) == 0

    every_learner_welcomed_once(worker, "python")
    assert moved(worker) > 0, "librdkafka's partitioner put some learners elsewhere than murmur2 does"
    # Said in the log once (per school: a consumed record does not carry its producer's client id), not per record.
    assert worker.log_path.read_text(errors="replace").count("moved there") == 1, worker.log_tail()


def test_json_events_from_kcat_reach_their_learners_once(worker, kcat):  # noqa: F811
    # The README's kcat recipe: one `key<TAB>json` line per event.
    lines = "".join(f"s1:u{number}\t{json.dumps(event(number, 'kcat'))}\n" for number in range(LEARNERS))
    subprocess.run([kcat, "-P", "-b", worker.settings.bootstrap_servers, "-t", worker.settings.topics.school_events,
                    "-K", "\t"], input=lines, text=True, check=True, timeout=60)

    every_learner_welcomed_once(worker, "kcat")
    assert moved(worker) > 0


def readme_block(after: str) -> str:
    """The README's first fenced block after the line holding `after`, as written there."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after):]
    start = rest.index("\n", rest.index("```")) + 1
    return rest[start:rest.index("```\n", start)]


def run_readme_recipe(worker, after: str) -> None:
    """The README's producer recipe after `after`, as written, with the test's broker and topic put in;
    then the one event it sends (learner u42, tag new) has welcomed its learner once."""
    worker.save_and_activate(automation("welcome-new", {"event": "user.tag_added", "tag": "new"},
                                        [{"id": "hello", "type": "send_email", "template": "new"}]))
    recipe = (readme_block(after).replace("127.0.0.1:9092", worker.settings.bootstrap_servers)
              .replace("automations.school-events", worker.settings.topics.school_events))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-c", recipe] if "import " in recipe else ["bash", "-euo", "pipefail", "-c", recipe]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=120)

    actions = worker.wait_for("actions", lambda found: any(a["template"] == "new" for a in found))
    assert [(a["user"], a["template"]) for a in actions] == [("u42", "new")]
    assert not worker.records("dead_letter")


def test_the_readmes_python_recipe_as_written(worker):
    run_readme_recipe(worker, "Python, with confluent-kafka:")


def test_the_readmes_kcat_recipe_as_written(worker, kcat):  # noqa: F811
    run_readme_recipe(worker, "kcat, one `key<TAB>json` line per event:")


def test_the_readmes_console_producer_recipe_as_written(worker):
    recipe = readme_block("Kafka's console producer (shipped with the broker's jars")
    assert "parse.key=true" in recipe and "key.separator" in recipe
    run_readme_recipe(worker, "Kafka's console producer (shipped with the broker's jars")
    assert moved(worker) == 0, "Kafka's own partitioner is murmur2: the event is in its learner's partition"
