"""The topics the project creates up front (processors.kafka_io.topic_specs).

Run status and dead letters are kept for good (the projections fold run status
from offset 0, and a dead letter is the only copy of refused input); the
definitions and the tables' changelogs are compacted; learner-scoped topics
share the configured partition count.
"""

from __future__ import annotations

from processors.config import Settings, Topics
from processors.kafka_io import topic_specs


def specs() -> dict:
    settings = Settings(topics=Topics(prefix="t"), app_id="app", partitions=6)
    return {spec.name: spec for spec in topic_specs(settings)}


def test_run_status_and_dead_letters_are_kept_for_good_and_nothing_else_is():
    kept = {name for name, spec in specs().items() if spec.topic_configs.get("retention.ms") == "-1"}

    assert kept == {"t.run-status", "t.dead-letter"}


def test_definitions_and_changelogs_are_compacted_and_learner_topics_share_partitions():
    found = specs()

    compacted = {name for name, spec in found.items() if spec.topic_configs.get("cleanup.policy") == "compact"}
    assert compacted == {"t.definitions"} | {f"app-{t}-changelog" for t in ("learners", "live-runs")}
    assert all(found[name].num_partitions == 6 for name in Topics(prefix="t").learner_scoped())
    assert found["t.definitions"].num_partitions == 1
