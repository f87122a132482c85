"""Shared fixtures: a real SQLite file per test, and a check that no task outlives its test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pgcluster
import pytest

from modemd.store.db import Store

# An installed /etc/modemd/modemd.toml must never leak into tests (nor into the daemons and CLI
# subprocesses they start, which inherit this): set but empty means "no config file".
os.environ["MODEMD_CONFIG"] = ""
os.environ.pop("MODEMD_DB", None)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Store(tmp_path / "modemd.db")
    await db.start()
    yield db
    await db.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The run's throwaway PostgreSQL cluster (tests/pgcluster.py): its maintenance database URL."""
    with pgcluster.cluster() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of this test only."""
    with pgcluster.fresh_database(pg_server) as url:
        yield url


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running (every task must be owned and awaited)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before - {asyncio.current_task()} if not t.done()]
    assert not left, f"tasks left running: {[t.get_name() for t in left]}"
