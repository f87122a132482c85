"""Where the database is: a file path or a PostgreSQL URL; anything else is refused."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from modemd.cli import main
from modemd.store.location import is_postgres, redacted


@pytest.mark.parametrize(
    "args", [["serve"], ["keys", "create", "--pin", "7"], ["devices"]], ids=" ".join
)
def test_an_unknown_database_scheme_is_refused_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*args, "--db", "mysql://shop:s3cret@db.example/modemd"])
    assert result.exit_code == 1, result.output
    assert "Error: unknown database scheme mysql://" in result.output
    assert "postgresql://user@host/dbname" in result.output  # what it takes instead
    assert "s3cret" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_paths_and_postgres_urls_are_told_apart() -> None:
    assert not is_postgres("modemd.db")
    assert not is_postgres("/var/lib/modemd/modemd.db")
    assert is_postgres("postgresql://modemd@db1/modemd")
    assert is_postgres("postgres:///modemd?host=/run/postgresql")
    assert redacted("postgresql://modemd:pw@db1/modemd") == "postgresql://modemd:***@db1/modemd"
    assert redacted("postgresql://modemd@db1/modemd") == "postgresql://modemd@db1/modemd"


def test_each_test_gets_its_own_real_postgres_database(pg_url: str, pg_server: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.info.server_version >= 130000  # DROP DATABASE ... WITH (FORCE)
        conn.execute("CREATE TABLE mine (x integer)")
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None and name[0].startswith("t_")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name[0]]).fetchone()
    assert found == (1,)
