"""The JSON Schema of an automation file, for editors and other tools.

Owns `automation_json_schema` (generated from the model, so it cannot drift)
and `schema_text`, the exact text of `schemas/automation.schema.json`; a test
keeps that file up to date. The schema checks the shape of a file only: the
rules of the guide (limits, wait ranges, waits in a row...) are
`engine.validation`'s, reported by `automations validate`.
"""

from __future__ import annotations

import json

from engine.definitions import Automation

TITLE = "School automation"
DESCRIPTION = (
    "An automation for an online school, as JSON or YAML: triggers (when), "
    "a flow of actions, waits and branches (then), and exit conditions that end "
    "a learner's run early. This schema checks the shape of the file; "
    "`automations validate FILE` also checks every rule that activation needs "
    "(at most 10 triggers, waits of 5 minutes to 365 days, an action between "
    "any two waits, at most 200 steps, ...). status, version, last_edited_at "
    "and activated_at are kept by the engine: a file may carry them, the engine "
    "decides their values."
)
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def automation_json_schema() -> dict:
    schema = Automation.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, **schema, "title": TITLE, "description": DESCRIPTION}


def schema_text() -> str:
    """The committed file's exact content: stable key order, two-space indent."""
    return json.dumps(automation_json_schema(), indent=2, ensure_ascii=False) + "\n"
