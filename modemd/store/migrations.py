"""Numbered schema migrations, written for SQLite (``store.schema`` applies them to either
engine), one file each in ``sql/``: ``NNN.sql``, whose first line is ``-- <what it does>``.
Append only: a released migration is never edited; a new one is the next number."""

from __future__ import annotations

import re
from importlib import resources

SQL_FOLDER = "sql"
_FILE_NAME = re.compile(r"(\d{3})\.sql")


def _load() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every file in ``sql/``, in order; the versions must run
    1, 2, 3 ... without a gap (a missing file would skip a schema change)."""
    found = []
    for entry in resources.files(__package__).joinpath(SQL_FOLDER).iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            continue
        first, _, sql = entry.read_text(encoding="utf-8").partition("\n")
        if not first.startswith("-- "):
            raise ValueError(f"{entry.name}: the first line must be '-- <what it does>'")
        found.append((int(match.group(1)), first[3:].strip(), sql))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations {versions}: each number once, from 1, without a gap")
    return found


MIGRATIONS: list[tuple[int, str, str]] = _load()
