"""Worker and client configuration, read from the environment once.

Every knob the README documents lives here, with its default, so processors,
the CLI and tests agree on topic names and addresses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """An environment variable that does not hold what it must; the message says which."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


PORT = (1, 65535)


def env_number(name: str, default: str, kind: type = int, within: tuple[float, float | None] = (1, None)):
    """The variable as a whole number (`int`) or a number (`float`) within `within` (a
    bound of None is open; whole numbers start at 1 unless said), or a ConfigError naming it."""
    text = _env(name, default)
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {text!r}") from None
    low, high = within
    if not (value >= low and (high is None or value <= high)):  # NaN is within nothing
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigError(f"{name} must be {what} {bounds}, got {text!r}")
    return value


@dataclass(frozen=True)
class Topics:
    prefix: str = field(default_factory=lambda: _env("AUTOMATIONS_TOPIC_PREFIX", "automations"))

    def _name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    @property
    def school_events(self) -> str:
        return self._name("school-events")

    @property
    def definitions(self) -> str:
        return self._name("definitions")

    @property
    def control(self) -> str:
        return self._name("control")

    @property
    def delays(self) -> str:
        return self._name("delays")

    @property
    def actions(self) -> str:
        return self._name("actions")

    @property
    def run_status(self) -> str:
        return self._name("run-status")

    @property
    def dead_letter(self) -> str:
        return self._name("dead-letter")

    @property
    def receipts(self) -> str:
        return self._name("receipts")

    @property
    def automation_runs(self) -> str:
        """Run starts and ends keyed `school:automation` (finishing deletes)."""
        return self._name("automation-runs")

    def learner_scoped(self) -> list[str]:
        """Topics keyed by `school:user`; they must share a partition count."""
        return [
            self.school_events,
            self.control,
            self.delays,
            self.actions,
            self.run_status,
            self.receipts,
        ]


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = field(
        default_factory=lambda: _env(
            "AUTOMATIONS_KAFKA_BOOTSTRAP",
            f"127.0.0.1:{env_number('AUTOMATIONS_BROKER_PORT', '9092', within=PORT)}",
        )
    )
    partitions: int = field(default_factory=lambda: env_number("AUTOMATIONS_PARTITIONS", "8"))
    replication_factor: int = field(
        default_factory=lambda: env_number("AUTOMATIONS_REPLICATION_FACTOR", "1")
    )
    app_id: str = field(default_factory=lambda: _env("AUTOMATIONS_APP_ID", "school-automations"))
    data_dir: str = field(default_factory=lambda: _env("AUTOMATIONS_DATA_DIR", "var/worker"))
    web_port: int = field(default_factory=lambda: env_number("AUTOMATIONS_WEB_PORT", "6066", within=PORT))
    # How long the broker waits for a silent worker before giving its partitions
    # to the others: the takeover time after a crash (a clean stop hands over at once).
    session_timeout: float = field(
        default_factory=lambda: env_number("AUTOMATIONS_SESSION_TIMEOUT", "60", float, within=(0.1, None))
    )
    # The stream task (processors.stream.task): records per batch (one transaction each), how
    # long it waits for records when idle (also how often due timers are looked for), timers
    # fired per batch at most, over all partitions (so live records interleave with a burst), and how long a
    # transaction may stay open before the broker aborts it (a frozen worker's, say).
    batch_size: int = field(default_factory=lambda: env_number("AUTOMATIONS_BATCH_SIZE", "1000"))
    poll_interval: float = field(
        default_factory=lambda: env_number("AUTOMATIONS_TIMER_INTERVAL", "0.05", float, within=(0.001, 10))
    )
    timers_per_batch: int = field(default_factory=lambda: env_number("AUTOMATIONS_TIMER_BATCH", "250"))
    # Learners' entries kept decoded across batches, over all the worker's partitions (a few KB
    # each): a busy learner is not decoded at every input, and the memory does not grow
    # with the learners or the partitions a worker holds.
    cached_entries: int = field(default_factory=lambda: env_number("AUTOMATIONS_ENTRY_CACHE", "100000", within=(0, None)))
    transaction_timeout: float = field(
        default_factory=lambda: env_number("AUTOMATIONS_TRANSACTION_TIMEOUT", "30", float, within=(1, 900))
    )
    # Names this worker among the app's (its Kafka transactional id); default: host name and
    # web port. Two workers must never share one; a worker restarted in its place keeps it.
    instance_id: str = field(default_factory=lambda: _env("AUTOMATIONS_INSTANCE_ID", ""))
    # Only for tests: lets the worker's clock be pinned/advanced (see processors.clock).
    controllable_clock: bool = field(
        default_factory=lambda: _env("AUTOMATIONS_TEST_CLOCK", "") == "1"
    )
    # Only with the controllable clock: the instant it starts pinned at (ISO 8601), so a
    # test's worker restarted after a crash resumes the test's time, not the wall's.
    test_clock_pin: str = field(default_factory=lambda: _env("AUTOMATIONS_TEST_CLOCK_PIN", ""))
    # Run-status records a feed (the API server's, `automations projector run`'s, the CLI's
    # catch-up) reads from Kafka and folds into the projections' store at once, at most:
    # a batch has a fixed cost (a transaction, the prefetch's queries), so larger batches
    # fold faster from far behind; a live trickle is folded as it comes, whatever this is.
    fold_batch: int = field(default_factory=lambda: env_number("AUTOMATIONS_FOLD_BATCH", "8000", within=(1, 100_000)))
    # A Confluent-compatible Schema Registry: set, every topic is written in the Confluent wire
    # format with ids registered there (analysts' tools read it); unset, in Avro single-object
    # encoding. Readers take both (`processors.schema_registry`).
    schema_registry_url: str = field(default_factory=lambda: _env("AUTOMATIONS_SCHEMA_REGISTRY_URL", "").strip())
    topics: Topics = field(default_factory=Topics)


def load() -> Settings:
    """The settings, with the codec set to write the framing they choose."""
    from processors import schema_registry  # it imports this module

    settings = Settings()
    schema_registry.install(settings)
    return settings
