"""Issue 18 item 6: the database (signing secrets, message texts) and its WAL are 0600 whatever
the umask, and an existing database readable by others is tightened at start, logged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modemd.store.db import Store, connect


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_and_its_wal_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask of a shell: files 0644
    try:
        store = Store(tmp_path / "m.db")
        await store.start()
        await store.write(lambda db: db.execute("CREATE TABLE t (x)"))
        wal, shm = Path(f"{store.path}-wal"), Path(f"{store.path}-shm")
        assert mode(Path(store.path)) == 0o600 and mode(wal) == 0o600 and mode(shm) == 0o600
        await store.close()
    finally:
        os.umask(old)


def test_an_existing_readable_database_is_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.db"
    connect(path).conn.close()
    os.chmod(path, 0o644)
    connect(path).conn.close()
    assert mode(path) == 0o600
    assert f"{path} was readable by others (mode 644): now 0600" in caplog.text
