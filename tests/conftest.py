"""Shared fixtures: a real database per test (SQLite, or PostgreSQL for both_engines tests), a
check that no task outlives its test, and in CI no skipped test."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pgcluster
import pytest
from no_skip_in_ci import pytest_runtest_makereport  # noqa: F401 (the hook, registered here)
from slow_first import pytest_collection_modifyitems  # noqa: F401 (the hook, registered here)

from modemd.store.db import Store

# An installed /etc/modemd/modemd.toml must never leak into tests (nor into the daemons and CLI
# subprocesses they start, which inherit this): set but empty means "no config file".
os.environ["MODEMD_CONFIG"] = ""
os.environ.pop("MODEMD_DB", None)

# A suite started with `&` by a non-interactive shell inherits SIGINT ignored, and so would every
# subprocess it starts (an ignored signal stays ignored across exec): the Ctrl-C tests would wait
# for a command that never hears it. Caught (Python's default), it is reset to default on exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


ENGINES = ("sqlite", "postgresql")
# The engine of the ``store`` and ``db_location`` fixtures when a test is not marked
# ``both_engines``: SQLite, the embedded default (MODEMD_TEST_ENGINE=postgresql runs those tests
# on PostgreSQL instead, to try the whole suite there).
DEFAULT_ENGINE = os.environ.get("MODEMD_TEST_ENGINE", "sqlite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_engines`` runs once per engine (its store or database location)."""
    wants = {"store", "db_location"} & set(metafunc.fixturenames)
    if wants and metafunc.definition.get_closest_marker("both_engines"):
        metafunc.parametrize("engine", ENGINES, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """A test marked ``sqlite_only`` (a SQLite file's feature) runs on SQLite whatever
    MODEMD_TEST_ENGINE says."""
    if request.node.get_closest_marker("sqlite_only"):
        return "sqlite"
    return str(getattr(request, "param", DEFAULT_ENGINE))


@pytest.fixture
def db_location(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where this test's database is: a SQLite file path, or a fresh PostgreSQL database's URL
    (copied from the migrated template)."""
    if engine == "sqlite":
        yield str(tmp_path / "modemd.db")
        return
    server, template = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_template")
    with pgcluster.fresh_database(server, template) as url:
        yield url


@pytest.fixture
async def store(db_location: str) -> AsyncIterator[Store]:
    db = Store(db_location)
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


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """A database with every migration applied, copied for each test (faster than migrating)."""
    return pgcluster.migrated_template(pg_server)


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running (every task must be owned and awaited)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before - {asyncio.current_task()} if not t.done()]
    assert not left, f"tasks left running: {[t.get_name() for t in left]}"
