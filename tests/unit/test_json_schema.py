"""The committed JSON Schema is the one the model generates today."""

from __future__ import annotations

from pathlib import Path

from engine.json_schema import automation_json_schema, schema_text

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "automation.schema.json"


def test_the_schema_file_is_up_to_date():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "schemas/automation.schema.json is stale: regenerate it with "
        "`automations schema > schemas/automation.schema.json`"
    )


def test_the_schema_says_what_it_describes():
    schema = automation_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "School automation"
    assert "automations validate FILE" in schema["description"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"id", "school", "name"}
