"""The API server as a real process beside a test's worker.

`ApiServer` runs `cli.py api` on the worker's topics with a token file of
its own (one token per school it is given) and an operator token, waits for
`GET /ready`, and offers `call(method, path, token, body)` plus `eventually`,
which polls until the views show what a test expects (never a sleep-and-hope:
a timeout is a failure with the last answer in the message). Every answer of a
route is held to the schema the server's own OpenAPI document gives it
(`openapi_check.AnswerCheck`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from api.auth import add_token, digest
from tests.integration.harness import ROOT, Worker, free_port
from tests.integration.openapi_check import AnswerCheck

OPERATOR_TOKEN = "operator-token-for-tests"


class ApiServer:
    def __init__(self, worker: Worker, folder: Path, schools: list[str], sync_timeout: float = 20.0):
        self.worker = worker
        self.port = free_port()
        self.tokens_file = folder / "tokens.json"
        self.tokens = {school: add_token(self.tokens_file, school) for school in schools}
        self.log_path = folder / "api.log"
        self.projections_url = f"sqlite:///{folder / 'projections.sqlite3'}"
        self.sync_timeout = sync_timeout
        self.process: subprocess.Popen | None = None
        self.answers: AnswerCheck | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **self.worker.env(),
            "AUTOMATIONS_API_PORT": str(self.port),
            "AUTOMATIONS_API_TOKENS": str(self.tokens_file),
            "AUTOMATIONS_OPERATOR_TOKEN_SHA256": digest(OPERATOR_TOKEN),
            "AUTOMATIONS_SYNC_TIMEOUT": str(self.sync_timeout),
            "AUTOMATIONS_API_URL": self.url,
            "AUTOMATIONS_API_TOKEN": OPERATOR_TOKEN,
            "AUTOMATIONS_PROJECTIONS_URL": self.projections_url,
        }

    def command(self) -> tuple[list[str], Path]:
        """The server's command line and the folder it runs in (a benchmark may run another checkout's)."""
        return [sys.executable, str(ROOT / "cli.py"), "api"], ROOT

    def start(self, timeout: float = 60.0) -> "ApiServer":
        argv, folder = self.command()
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(argv, env=self.env(), stdout=log, stderr=log, cwd=folder, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"API exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if self.call("GET", "/ready")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"API not ready in {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def call(self, method: str, path: str, token: str | None = None, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        status, answer = self._call(method, path, token, body, raw)
        if self.answers is None:
            self.answers = AnswerCheck(self._call("GET", "/openapi.json")[1])
        self.answers.check(method, path, status, answer)
        return status, answer

    def _call(self, method: str, path: str, token: str | None = None, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload)
            except ValueError:
                return error.code, payload.decode(errors="replace")

    def school(self, school: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(method, f"/schools/{school}{path}", self.tokens[school], body)

    def operator(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(method, path, OPERATOR_TOKEN, body)

    def eventually(self, read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = read()
            if done(value):
                return value
            time.sleep(0.25)
        raise AssertionError(f"never true within {timeout}s; last answer: {value}\nAPI log:\n{self.log_tail()}")

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), *args],
            env={**self.env(), "COLUMNS": "250"}, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        )
