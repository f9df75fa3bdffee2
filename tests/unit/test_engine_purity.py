"""engine/ stays pure: no Kafka, Faust, store, clock, randomness, sockets, asyncio or OS access."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
FORBIDDEN_MODULES = {
    "faust", "aiokafka", "rocksdict", "fastavro", "time", "uuid", "random", "secrets",
    "socket", "asyncio", "os", "subprocess", "threading",
}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time"), ("datetime", "today")}
FILES = sorted(ENGINE.glob("*.py"))


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"{path.name}:{node.lineno} imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if (owner_name, node.func.attr) in FORBIDDEN_CALLS:
                problems.append(f"{path.name}:{node.lineno} calls {owner_name}.{node.func.attr}()")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("open", "print", "input"):
            problems.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
    return problems


def test_the_engine_has_modules_to_check():
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_engine_module_is_pure(path):
    problems = _problems(path)
    assert not problems, "\n".join(problems)


def test_the_scan_catches_a_clock_read(tmp_path):
    sample = tmp_path / "impure.py"
    sample.write_text("import time\nfrom datetime import datetime\nx = datetime.now()\n")
    assert len(_problems(sample)) == 2
