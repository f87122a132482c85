"""The throwaway PostgreSQL cluster of a test run, and a fresh database in it per test.

``scripts/test`` starts one (``scripts/pg-cluster``) and exports its URL as MODEMD_TEST_PG; a
plain ``pytest`` run starts its own for the session the same way. Without PostgreSQL installed
the tests that need it skip, unless CI is set: there a missing server is a failure."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from modemd.store.db import connect

CLUSTER_SCRIPT = Path(__file__).parent.parent / "scripts" / "pg-cluster"
ENV = "MODEMD_TEST_PG"


@contextmanager
def cluster() -> Iterator[str]:
    """The URL of the run's cluster (its maintenance database), started here if need be."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        reason = f"needs PostgreSQL (apt-get install postgresql) or ${ENV}: run scripts/test"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    directory = tempfile.mktemp(prefix="modemd-test-pg.")
    started = subprocess.run(
        [str(CLUSTER_SCRIPT), "start", directory], capture_output=True, text=True, check=False
    )
    try:
        if started.returncode:
            pytest.fail(f"cannot start a PostgreSQL cluster: {started.stderr}")
        yield started.stdout.strip()
    finally:
        subprocess.run([str(CLUSTER_SCRIPT), "stop", directory], check=False)


def database_url(server: str, name: str) -> str:
    """``server``'s URL pointing at database ``name`` instead."""
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def fresh_database(server: str, template: str = "template1") -> Iterator[str]:
    """A new database copied from ``template`` (fast: a file copy), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield database_url(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


TEMPLATE = "modemd_template"


def migrated_template(server: str) -> str:
    """Create a template database on ``server`` with every migration applied; its name. One per
    pytest-xdist worker (``modemd_template_gw0`` ...): the workers share the cluster, and one
    worker must not drop the template another is copying from."""
    name = f"{TEMPLATE}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    connect(database_url(server, name)).close()
    return name
