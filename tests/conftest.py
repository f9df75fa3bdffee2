"""Fixtures every test folder shares: the throwaway PostgreSQL cluster.

`postgres` starts one cluster per test session (tests.postgres) on the first
test that asks for it, and removes it at the end; `store_url` hands a test
a fresh database on it, or a fresh SQLite file: the projections' contract
tests run once per backend.

Hypothesis runs without its per-example deadline: a property test says what
holds, not how fast (speed lives in bench/), and on a shared 2-core box an
example that waits for the CPU is not a failure.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings

settings.register_profile("project", deadline=None)
settings.load_profile("project")

from tests.postgres import Cluster

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres():
    cluster = Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'projections.sqlite3'}"
    return request.getfixturevalue("postgres").create_database(f"projections_{next(_databases)}")
