"""Where the database is: a SQLite file path, or a PostgreSQL connection URL.

``--db``, ``$MODEMD_DB`` and ``server.db`` take either; anything else that looks like a URL is
refused with the forms modemd knows (a typo must not silently become a file named after it)."""

from __future__ import annotations

import re

from modemd.errors import StoreError

POSTGRES_SCHEMES = ("postgresql", "postgres")  # what libpq itself accepts
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_postgres(db: str) -> bool:
    """True for a PostgreSQL URL, False for a SQLite file; StoreError for an unknown scheme."""
    found = _SCHEME.match(str(db))
    if found is None:
        return False
    scheme = found.group(1).lower()
    if scheme in POSTGRES_SCHEMES:
        return True
    raise StoreError(
        f"unknown database scheme {scheme}:// in {redacted(str(db))}: give a SQLite file path "
        "(e.g. /var/lib/modemd/modemd.db) or a PostgreSQL URL (postgresql://user@host/dbname)"
    )


def redacted(db: str) -> str:
    """``db`` with any password in it replaced (it goes to logs and error messages)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", db)
