"""Opening the database: the SQLite file's settings and mode, or a PostgreSQL URL, then its
migrations (the store's thread and the CLI both open it here)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import sqlite_utils

from modemd.errors import StoreError
from modemd.store import dialect
from modemd.store.location import is_postgres, redacted
from modemd.store.schema import migrate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000  # another process (the CLI) holding the write lock briefly


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open ``path`` (a SQLite file, or a PostgreSQL URL) with the settings modemd relies on and
    bring its schema up to date."""
    if is_postgres(str(path)):
        from modemd.store.pg import PgDatabase

        try:
            database = PgDatabase(str(path))
            migrate(database)
        except dialect.DATABASE_ERRORS as exc:
            raise StoreError(f"cannot open {redacted(str(path))}: {exc}") from exc
        return database  # type: ignore[return-value]  # the same surface, duck-typed
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    private_file(Path(path))
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # fsync the WAL at every commit: an accept is durable
    conn.execute("PRAGMA foreign_keys=ON")
    # Journals of savepoints and statements in memory: in a file (the default), one that
    # outgrows 64 KiB (a send's record changes ~35 pages under its savepoint) becomes a temp
    # file, created, written and deleted again in every such transaction (the outbox insert
    # cost 3-4x its CPU alone). Its size is the pages one write changes before its commit
    # (big writes go in batches: retention, lapses, 500 at a time).
    conn.execute("PRAGMA temp_store=MEMORY")
    # No sqlite-utils plugins: nothing of another package's changes our connection, and looking
    # for them read every installed package's entry points (~25 ms of CPU at each start)
    db = sqlite_utils.Database(conn, execute_plugins=False)
    migrate(db)
    return db


FILE_MODE = 0o600  # IPN signing secrets and message texts live in the database


def private_file(path: Path) -> None:
    """Create ``path`` 0600 whatever the umask (SQLite gives its -wal and -shm the database
    file's mode), or tighten an existing database and its companions, logged."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        os.chmod(path, FILE_MODE)
        return
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077 and file.stat().st_uid == os.geteuid():
                os.chmod(file, FILE_MODE)
                log.warning("%s was readable by others (mode %o): now 0600", file, mode)
        except FileNotFoundError:
            continue
