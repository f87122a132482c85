"""The database as a file: is it one modemd can open (before anything creates or migrates it);
online backup and restore with SQLite's backup API."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from modemd.errors import StoreError
from modemd.store.location import is_postgres
from modemd.store.migrations import MIGRATIONS

SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 file
KNOWN_VERSION = max(version for version, _, _ in MIGRATIONS)


def check_database(path: str | Path, *, must_exist: bool) -> None:
    """StoreError, with what to do, unless ``path`` is a modemd database this version can use
    (or, ``must_exist`` false, nothing yet: it will be created)."""
    if is_postgres(str(path)):
        return  # a server's database: connecting tells (``modemd db check``)
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file (try {path / 'modemd.db'})")
    if not path.exists():
        if must_exist:
            raise StoreError(
                f"no database at {path} (check --db, $MODEMD_DB or server.db in the config; "
                "`modemd serve` creates it)"
            )
        if not path.parent.is_dir():
            raise StoreError(f"cannot create {path}: no directory {path.parent}")
        return
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if header and header != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a SQLite database (a modemd database is one)")
    version = schema_version(path)
    if version > KNOWN_VERSION:
        raise StoreError(
            f"{path} was written by a newer modemd (schema version {version}, this modemd knows "
            f"up to {KNOWN_VERSION}): upgrade modemd, or restore a backup made by this version"
        )


def schema_version(path: str | Path) -> int:
    """The highest migration applied to the file (0: none), read without writing to it."""
    try:
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        found = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if found is None:
            return 0
        (version,) = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(version or 0)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a usable SQLite database: {exc}") from exc
    finally:
        conn.close()


def _not_postgres(db: str) -> None:
    if is_postgres(db):
        raise StoreError(
            "modemd db backup/restore copy a SQLite file; back up a PostgreSQL database with "
            "pg_dump and restore it with pg_restore (or psql)"
        )


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)


def backup(source: str | Path, target: str | Path) -> int:
    """Copy the database at ``source`` to the new file ``target`` (size in bytes), safe while
    the daemon writes: one read transaction sees one consistent state (WAL lets writers go on)."""
    _not_postgres(str(source))
    source, target = Path(source), Path(target)
    check_database(source, must_exist=True)
    if target.exists():
        raise StoreError(f"{target} exists: a backup never overwrites, choose a new file name")
    if not target.parent.is_dir():
        raise StoreError(f"no directory {target.parent} for the backup")
    _copy(source, target)
    return target.stat().st_size


def _copy(source: Path, target: Path) -> None:
    """SQLite's backup API, in one step (a stepped copy restarts after every write of another
    process, so a busy daemon could starve it), then a quick check of the copy."""
    src = _read_only(source)
    try:
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)
            (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot copy {source} to {target}: {exc}") from exc
    finally:
        src.close()
    if verdict != "ok":
        raise StoreError(f"the copy {target} fails SQLite's quick_check: {verdict}")


def restore(backup_file: str | Path, target: str | Path) -> Path | None:
    """Replace the database at ``target`` with ``backup_file`` (checked first); the database it
    replaces is kept beside it (returned). The daemon must be stopped: the caller checks."""
    _not_postgres(str(target))
    backup_file, target = Path(backup_file), Path(target)
    check_database(backup_file, must_exist=True)
    check_database(target, must_exist=False)
    kept = None
    if target.exists():
        kept = target.with_name(f"{target.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
        _copy(target, kept)
    _copy(backup_file, target)
    return kept
