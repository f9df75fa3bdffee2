"""A small Schema Registry for tests: the REST subset confluent-kafka's client calls.

No registry server installs from the package registries these machines reach
(Confluent's is not on Maven Central, Apicurio's artifacts do not resolve,
Karapace is not on PyPI); docker-compose.yml runs Confluent's own. This one
keeps Confluent's contract where the project and analysts' tools meet it:

- POST /subjects/{subject}/versions: register; the same schema gets the same
  id in every subject (ids are global), registering it again is a no-op, and a
  schema that breaks the subject's compatibility is refused with 409.
- GET /schemas/ids/{id}, GET /schemas/ids/{id}/subjects (404 code 40403 when unknown).
- PUT/GET /config/{subject} and /config (compatibility; BACKWARD by default).
- GET /subjects, /subjects/{subject}/versions, /subjects/{subject}/versions/{n|latest},
  POST /subjects/{subject} (look a schema up).

BACKWARD here is the part our schemas can break: a field the new version adds
needs a default (it must read what the old one wrote). Schemas are compared by
their text with whitespace normalised, as a registry does without `normalize`.
State lives in memory; `calls` counts requests, so a test sees what was asked.
Run alone: `python -m tests.registry_server --port 8081`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections import Counter

from aiohttp import web

JSON = "application/vnd.schemaregistry.v1+json"


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"error_code": code, "message": message}, status=status, content_type=JSON)


def _ok(body) -> web.Response:
    return web.json_response(body, content_type=JSON)


def _canonical(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def _backward_problem(new: dict, old: dict) -> str | None:
    """Why `new` cannot read what `old` wrote (record fields only), or None."""
    if new.get("type") != "record" or old.get("type") != "record":
        return None
    old_fields = {field["name"] for field in old.get("fields", [])}
    for field in new.get("fields", []):
        if field["name"] not in old_fields and "default" not in field:
            return f"field {field['name']!r} is new and has no default"
    return None


class RegistryState:
    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}  # id -> schema text as registered first
        self.ids: dict[str, int] = {}  # canonical text -> id
        self.subjects: dict[str, list[int]] = {}  # subject -> ids, version n at index n - 1
        self.config: dict[str, str] = {}
        self.default_compatibility = "BACKWARD"
        self.calls: Counter[str] = Counter()

    def register(self, subject: str, text: str) -> web.Response:
        try:
            key = _canonical(text)
        except ValueError as error:
            return _error(422, 42201, f"Invalid schema: {error}")
        versions = self.subjects.setdefault(subject, [])
        known = self.ids.get(key)
        if known is not None and known in versions:
            return _ok({"id": known})
        level = self.config.get(subject, self.default_compatibility)
        if versions and level.startswith("BACKWARD"):
            problem = _backward_problem(json.loads(text), json.loads(self.schemas[versions[-1]]))
            if problem:
                return _error(409, 409, f"Schema being registered is incompatible with an earlier schema: {problem}")
        if known is None:
            known = len(self.schemas) + 1
            self.schemas[known], self.ids[key] = text, known
        versions.append(known)
        return _ok({"id": known})

    def version(self, subject: str, index: int) -> dict:
        schema_id = self.subjects[subject][index]
        version = index + 1 if index >= 0 else len(self.subjects[subject])
        return {"subject": subject, "version": version, "id": schema_id, "schema": self.schemas[schema_id]}


def build_app(state: RegistryState) -> web.Application:
    routes = web.RouteTableDef()

    @web.middleware
    async def count(request: web.Request, handler):
        resource = request.match_info.route.resource
        state.calls[f"{request.method} {resource.canonical if resource else request.path}"] += 1
        return await handler(request)

    @routes.post("/subjects/{subject}/versions")
    async def register(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("schemaType", "AVRO") != "AVRO":
            return _error(422, 42201, "only AVRO schemas here")
        return state.register(request.match_info["subject"], body["schema"])

    @routes.get("/schemas/ids/{id}")
    async def schema_by_id(request: web.Request) -> web.Response:
        text = state.schemas.get(int(request.match_info["id"]))
        if text is None:
            return _error(404, 40403, "Schema not found")
        return _ok({"schema": text})

    @routes.get("/schemas/ids/{id}/subjects")
    async def subjects_of(request: web.Request) -> web.Response:
        schema_id = int(request.match_info["id"])
        if schema_id not in state.schemas:
            return _error(404, 40403, "Schema not found")
        return _ok(sorted(s for s, ids in state.subjects.items() if schema_id in ids))

    @routes.get("/subjects")
    async def subjects(request: web.Request) -> web.Response:
        return _ok(sorted(state.subjects))

    @routes.get("/subjects/{subject}/versions")
    async def versions(request: web.Request) -> web.Response:
        found = state.subjects.get(request.match_info["subject"])
        if not found:
            return _error(404, 40401, "Subject not found")
        return _ok(list(range(1, len(found) + 1)))

    @routes.get("/subjects/{subject}/versions/{version}")
    async def version(request: web.Request) -> web.Response:
        subject, wanted = request.match_info["subject"], request.match_info["version"]
        found = state.subjects.get(subject)
        if not found:
            return _error(404, 40401, "Subject not found")
        index = -1 if wanted in ("latest", "-1") else int(wanted) - 1
        if not -1 <= index < len(found):
            return _error(404, 40402, "Version not found")
        return _ok(state.version(subject, index))

    @routes.post("/subjects/{subject}")
    async def look_up(request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        key = _canonical((await request.json())["schema"])
        found = state.subjects.get(subject)
        if not found:
            return _error(404, 40401, "Subject not found")
        schema_id = state.ids.get(key)
        if schema_id not in found:
            return _error(404, 40403, "Schema not found")
        return _ok(state.version(subject, found.index(schema_id)))

    @routes.put("/config/{subject}")
    async def set_config(request: web.Request) -> web.Response:
        level = (await request.json())["compatibility"].upper()
        state.config[request.match_info["subject"]] = level
        return _ok({"compatibility": level})

    @routes.get("/config/{subject}")
    async def get_config(request: web.Request) -> web.Response:
        level = state.config.get(request.match_info["subject"])
        if level is None:
            return _error(404, 40408, "Subject does not have subject-level compatibility configured")
        return _ok({"compatibilityLevel": level})

    @routes.put("/config")
    async def set_default(request: web.Request) -> web.Response:
        state.default_compatibility = (await request.json())["compatibility"].upper()
        return _ok({"compatibility": state.default_compatibility})

    @routes.get("/config")
    async def get_default(request: web.Request) -> web.Response:
        return _ok({"compatibilityLevel": state.default_compatibility})

    app = web.Application(middlewares=[count])
    app.add_routes(routes)
    return app


class RegistryServer:
    """The registry on 127.0.0.1:`port` in a thread of its own; `stop` and `start` again keep the state."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.state = RegistryState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RegistryServer":
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            self._runner = web.AppRunner(build_app(self.state))
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            started.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="schema-registry", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError(f"the test schema registry did not start on port {self.port}")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    port = parser.parse_args().port
    web.run_app(build_app(RegistryState()), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
