"""What an id may be: schools, users, automations and their triggers, steps and exits.

Owns the one pattern every edge checks ids against (definition files, school
events, the CLI, the HTTP API): ASCII letters and digits, and `.`, `_`, `-`,
`@` and `+`, starting with a letter, a digit or `_`, at most 200 characters.
What learning platforms use for ids fits (numbers, uuids, slugs such as
`python-101`, email addresses such as `ada+test@example.org`); what ids must
never hold does not: `/` and `..` at the start (ids end up in URLs and file
names), `:` (it separates school and user in every Kafka key), spaces and
control characters (they hide in logs), `*` (the user that addresses every
learner of a partition), a leading `-` (taken for an option on a command line).
Event ids are the platform's and the engine's (`inactive:school:user:7@...`)
and are not held to it.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 200
ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,199}")
RULE = ("may hold only ASCII letters, digits and . _ - @ +, must start with a letter, a digit or _, "
        f"and be at most {MAX_ID_LENGTH} characters")


def is_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def id_problem(what: str, value: str) -> str | None:
    """None for a good id; else one line saying what is wrong with it, the id shown safely."""
    if is_id(value):
        return None
    shown = value if len(value) <= 60 else f"{value[:60]}..."
    return f"{what} {shown!r} is not a valid id: an id {RULE}"
