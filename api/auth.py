"""Who may ask what (ruling 16): bearer tokens bound to one school, or the operator's.

Owns the token file (JSON or YAML: `{"tokens": [{"school": ..., "sha256": ...,
"created_at": ...}]}`; only hashes are stored, so the file can be read
without revealing a token), adding a token to it, and `Authenticator`,
which turns an `Authorization: Bearer ...` header into a `Principal`. The file
is re-read when it changes, so `automations tokens add` needs no restart.
No token, or one that is not known, gets no access at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml


log = logging.getLogger(__name__)
_HEX_64 = re.compile(r"[0-9a-f]{64}")


class TokenFileError(Exception):
    """The token file cannot be read or has the wrong shape; the message says where."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """A school's token (`school` set) or the operator's (`operator`: every school)."""

    school: str | None
    operator: bool = False

    def may_act_for(self, school: str) -> bool:
        return self.operator or self.school == school


def read_tokens(path: Path) -> dict[str, str]:
    """sha256 hex -> school, from the token file; a missing file holds no tokens. Any
    problem is a TokenFileError (for the commands that write the file)."""
    tokens, problems = read_token_file(path)
    if problems:
        raise TokenFileError(problems[0])
    return tokens


def read_token_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The tokens of every well-formed entry, and a problem for each other entry. A file
    that cannot be read at all (half-written, not UTF-8, not a mapping with a 'tokens'
    list) is a TokenFileError."""
    if not path.exists():
        return {}, []
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, RecursionError, yaml.YAMLError) as error:  # ValueError: not UTF-8
        one_line = " ".join(str(error).split())  # YAML's messages span lines, with a caret
        raise TokenFileError(f"{path}: cannot read the token file: {one_line}") from None
    entries = document.get("tokens") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TokenFileError(f"{path}: expected a mapping with a 'tokens' list")
    tokens: dict[str, str] = {}
    problems: list[str] = []
    for index, entry in enumerate(entries):
        school = entry.get("school") if isinstance(entry, dict) else None
        hashed = str(entry.get("sha256", "")).lower() if isinstance(entry, dict) else ""
        if not isinstance(school, str) or not school or not _HEX_64.fullmatch(hashed):
            problems.append(f"{path}: tokens[{index}] needs a school and a 64-hex-digit sha256")
            continue
        tokens[hashed] = school
    return tokens, problems


def add_token(path: Path, school: str, now: datetime | None = None) -> str:
    """Create a token for `school`, store its hash, and return the token (shown once)."""
    if not school.strip():
        raise TokenFileError("a token needs a school id")
    read_tokens(path)  # refuse to rewrite a file we cannot read
    document = {"tokens": []}
    if path.exists():
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {"tokens": []}
    token = secrets.token_urlsafe(32)
    created = (now or datetime.now(timezone.utc)).isoformat()
    document["tokens"].append({"school": school, "sha256": digest(token), "created_at": created})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return token


class Authenticator:
    def __init__(self, tokens_file: str, operator_sha256: str) -> None:
        self._path = Path(tokens_file) if tokens_file else None
        self._operator = operator_sha256.lower() if operator_sha256 else ""
        self._tokens: dict[str, str] = {}
        self._stamp: tuple[int, int] | None = None
        if self._path is not None:
            read_token_file(self._path)  # a server does not start on a file it cannot read at all
        self._refresh()

    def _refresh(self) -> None:
        if self._path is None:
            return
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp  # a bad file is reported once per change, not at every request
        if stamp is None:
            self._tokens = {}
            return
        try:
            tokens, problems = read_token_file(self._path)
        except TokenFileError as error:
            # Keep the tokens last read: a half-written file must not lock everyone out.
            log.error("%s; the tokens read before stay in use", error)
            return
        for problem in problems:
            # The file's other entries are taken, so removing a leaked token's line
            # revokes it even while another entry is being fixed.
            log.error("%s; that entry is ignored", problem)
        self._tokens = tokens

    def principal(self, authorization: str | None) -> Principal | None:
        """The caller behind an Authorization header, or None (no access)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer ") :].strip()
        if not token or not token.isascii():  # tokens are URL-safe base64; other bytes are no token
            return None
        hashed = digest(token)
        if self._operator and secrets.compare_digest(hashed, self._operator):
            return Principal(school=None, operator=True)
        self._refresh()
        school = self._tokens.get(hashed)
        return Principal(school=school) if school else None
