"""Holding a running API server's real answers to its own OpenAPI document.

`AnswerCheck` takes the document the server serves, finds the route of a call
(method and path, against the document's path templates) and validates the
answer's body against the schema the document gives for that status; an
undocumented status of a documented route fails too. `ApiServer.call` runs
every answer of the API's integration tests through it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator


class AnswerCheck:
    def __init__(self, document: dict) -> None:
        self.document = document
        self.routes = [
            (method.upper(), re.compile(re.sub(r"\{\w+\}", "[^/]+", path) + "$"), path, operation)
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
        ]
        self.checked: set[tuple[str, str, str]] = set()  # (method, path template, status)

    def check(self, method: str, url: str, status: int, body) -> None:
        path = urlsplit(url).path
        matches = [(template, operation) for m, pattern, template, operation in self.routes
                   if m == method and pattern.match(path)]
        if not matches:
            return  # no route: aiohttp's own 404 and 405
        # The most literal template wins: /automations/{id}/runs over /automations/{id}.
        template, operation = max(matches, key=lambda match: len(re.sub(r"\{\w+\}", "", match[0])))
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {template} answered {status}, which the document does not list: {body}"
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        problems = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
        assert not problems, (f"{method} {template} {status}: the answer does not fit its schema: "
                              + "; ".join(f"{list(p.absolute_path)}: {p.message}" for p in problems[:5]))
        self.checked.add((method, template, str(status)))
