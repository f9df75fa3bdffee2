"""The API server's settings, read from the environment once.

Kafka addresses and topic names are the workers' (`processors.config`);
these are the knobs only the API has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from processors.config import PORT, ConfigError, env_number


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class ApiSettings:
    host: str = field(default_factory=lambda: _env("AUTOMATIONS_API_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: env_number("AUTOMATIONS_API_PORT", "8080", within=PORT))
    # JSON or YAML file of school tokens, stored as sha256 hex (`automations tokens add`).
    tokens_file: str = field(default_factory=lambda: _env("AUTOMATIONS_API_TOKENS", ""))
    # sha256 hex of the operator token, which may act for every school.
    operator_token_sha256: str = field(
        default_factory=lambda: _env("AUTOMATIONS_OPERATOR_TOKEN_SHA256", "").strip().lower()
    )
    # How long a synchronous ingest waits for the worker's receipt (504 after that).
    sync_timeout: float = field(default_factory=lambda: env_number("AUTOMATIONS_SYNC_TIMEOUT", "10", float, within=(0.001, None)))
    # How long a write to Kafka (ingest, replay, cancel, advance) may take before the
    # caller is answered 503: the broker is away or frozen, send again.
    write_timeout: float = field(default_factory=lambda: env_number("AUTOMATIONS_WRITE_TIMEOUT", "10", float, within=(0.001, None)))
    max_events_per_request: int = field(
        default_factory=lambda: env_number("AUTOMATIONS_MAX_EVENTS_PER_REQUEST", "1000")
    )
    # Where the projections live (projections.store): empty for the SQLite file of this
    # topic prefix under var/projections/; postgresql://... for a database API servers share.
    projections_url: str = field(default_factory=lambda: _env("AUTOMATIONS_PROJECTIONS_URL", ""))
    # Whether this server folds the run-status topic into that database itself ("on"), or
    # only reads it while `automations projector run` processes fold it ("off").
    projector: bool = field(default_factory=lambda: _on_off("AUTOMATIONS_PROJECTOR", "on"))


def _on_off(name: str, default: str) -> bool:
    value = _env(name, default).strip().lower()
    if value not in ("on", "off"):
        raise ConfigError(f"{name} must be on or off; got {value!r}")
    return value == "on"


# An API server listening on every address is reached on the loopback one.
_EVERY_ADDRESS = ("", "0.0.0.0", "::")


def local_api_url() -> str:
    """The URL of the API server `automations api` would start here: AUTOMATIONS_API_HOST
    and AUTOMATIONS_API_PORT, so setting the port alone is enough for both ends."""
    host = _env("AUTOMATIONS_API_HOST", "127.0.0.1").strip()
    host = "127.0.0.1" if host in _EVERY_ADDRESS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{env_number('AUTOMATIONS_API_PORT', '8080', within=PORT)}"


@dataclass(frozen=True)
class ClientSettings:
    """Where the CLI finds a running API server, and the operator token it presents."""

    url: str = field(default_factory=lambda: (_env("AUTOMATIONS_API_URL", "") or local_api_url()).rstrip("/"))
    token: str = field(default_factory=lambda: _env("AUTOMATIONS_API_TOKEN", ""))


def load() -> ApiSettings:
    return ApiSettings()
