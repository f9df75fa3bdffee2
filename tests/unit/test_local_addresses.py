"""Where the CLI looks for what it starts elsewhere: the API server by its port, the
demo broker by the broker variables, so one variable set is enough for both ends."""

from __future__ import annotations

from pathlib import Path

from api.settings import ClientSettings
from console.demo import DEMO_KAFKA_HOME, DEMO_PORT, demo_broker


def test_the_api_url_follows_the_api_port(monkeypatch):
    monkeypatch.delenv("AUTOMATIONS_API_URL", raising=False)
    monkeypatch.delenv("AUTOMATIONS_API_HOST", raising=False)
    monkeypatch.setenv("AUTOMATIONS_API_PORT", "9191")
    assert ClientSettings().url == "http://127.0.0.1:9191"


def test_the_api_url_reaches_a_server_on_every_address_at_the_loopback_one(monkeypatch):
    monkeypatch.delenv("AUTOMATIONS_API_URL", raising=False)
    monkeypatch.delenv("AUTOMATIONS_API_PORT", raising=False)
    monkeypatch.setenv("AUTOMATIONS_API_HOST", "0.0.0.0")
    assert ClientSettings().url == "http://127.0.0.1:8080"
    monkeypatch.setenv("AUTOMATIONS_API_HOST", "::1")
    assert ClientSettings().url == "http://[::1]:8080"


def test_an_explicit_api_url_wins(monkeypatch):
    monkeypatch.setenv("AUTOMATIONS_API_PORT", "9191")
    monkeypatch.setenv("AUTOMATIONS_API_URL", "http://api.internal:80/")
    assert ClientSettings().url == "http://api.internal:80"


def test_the_demo_broker_follows_the_broker_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOMATIONS_BROKER_PORT", "29999")
    monkeypatch.setenv("AUTOMATIONS_KAFKA_HOME", str(tmp_path / "kafka"))
    assert demo_broker(None) == (29999, tmp_path / "kafka")
    assert demo_broker(18000)[0] == 18000  # --port says more than the environment


def test_the_demo_broker_has_its_own_port_and_folder_by_default(monkeypatch):
    monkeypatch.delenv("AUTOMATIONS_BROKER_PORT", raising=False)
    monkeypatch.delenv("AUTOMATIONS_KAFKA_HOME", raising=False)
    assert demo_broker(None) == (DEMO_PORT, DEMO_KAFKA_HOME)
    assert DEMO_KAFKA_HOME == Path(__file__).resolve().parents[2] / ".kafka" / "demo"
