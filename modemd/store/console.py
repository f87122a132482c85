"""What the operator console reads and the one thing it owns: the console password's hash.
Job search, a job's timeline with its IPN attempts, disabled IPN endpoints."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import sqlite_utils

from modemd.store import events as outbox
from modemd.store import jobs
from modemd.store.filters import created_within, given

__all__ = [
    "check_password",
    "disabled_endpoints",
    "has_password",
    "job_timeline",
    "known_pins",
    "search_jobs",
    "set_password",
]

# scrypt cost (RFC 7914; n=2**14, r=8 is the interactive-login figure): ~50 ms, 16 MiB
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_CHARS = 12
SEARCH_LIMIT = 200


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024)


def set_password(db: sqlite_utils.Database, password: str) -> None:
    """Store the console password as a salted scrypt hash (never the password)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the console password needs at least {MIN_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    stored = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"
    db.execute(
        "INSERT INTO console_auth (id, password_hash, updated_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, "
        "updated_at = excluded.updated_at",
        [stored, time.time()],
    )


def has_password(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT COUNT(*) FROM console_auth").fetchone()[0] > 0


def check_password(db: sqlite_utils.Database, password: str) -> bool:
    """True when ``password`` is the console password (constant-time compare)."""
    row = db.execute("SELECT password_hash FROM console_auth WHERE id = 1").fetchone()
    if row is None or not password:
        return False
    _, n, r, p, salt, digest = str(row[0]).split("$")
    given = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    return hmac.compare_digest(given, bytes.fromhex(digest))


def search_jobs(
    db: sqlite_utils.Database,
    *,
    number: str | None = None,
    state: str | None = None,
    key_id: int | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """Newest first, at most ``SEARCH_LIMIT``; ``number`` matches any part of the digits."""
    digits = "".join(c for c in number or "" if c.isdigit())
    # A window of every key's jobs that may be far back is read between its bounds' seqs; a
    # key's is read by its index, and the newest first from the table's end.
    windowed = key_id is None and until is not None
    where, params = given(
        (
            ("to_number LIKE ?", f"%{digits}%" if digits else None),
            ("state = ?", state or None),
            ("key_id = ?", key_id),
            ("created_at >= ?", None if windowed else since),
            ("created_at < ?", None if windowed else until),
        )
    )
    if windowed:
        window, values = created_within(since, until)
        where.append(window)
        params.extend(values)
    return list(
        db.query(
            "SELECT job_id, key_id, pin, to_number, state, device_id, parts, error, created_at, "
            f"sent_at, final_at FROM jobs WHERE {' AND '.join(['1 = 1', *where])} "
            "ORDER BY seq DESC LIMIT ?",
            [*params, SEARCH_LIMIT],
        )
    )


def job_timeline(db: sqlite_utils.Database, job_id: str) -> dict[str, Any] | None:
    """The job (as the API shows it), its IPN events, and each event's attempts."""
    detail = jobs.get_job_detail(db, job_id)
    if detail is None:
        return None
    row = db.execute("SELECT key_id, message FROM jobs WHERE job_id = ?", [job_id]).fetchone()
    events = outbox.list_events(db, job_id)
    for event in events:
        event["attempt_rows"] = list(
            db.query(
                "SELECT attempt, at, http_status, error FROM event_attempts "
                "WHERE event_id = ? ORDER BY attempt",
                [event["event_id"]],
            )
        )
    return {**detail, "key_id": row[0], "message": row[1], "events": events}


def disabled_endpoints(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """IPN endpoints that answered 410 Gone (no posts until enabled)."""
    return list(
        db.query(
            "SELECT e.key_id, k.pin, k.label, k.ipn_url, e.disabled_at, e.disabled_reason "
            "FROM ipn_endpoints e JOIN api_keys k ON k.key_id = e.key_id "
            "WHERE e.disabled_at IS NOT NULL ORDER BY e.key_id"
        )
    )


def known_pins(db: sqlite_utils.Database) -> list[str]:
    """Every pool anything refers to: keys, devices, contact lists."""
    return [
        str(r[0])
        for r in db.execute(
            "SELECT pin FROM api_keys UNION SELECT pin FROM devices "
            "UNION SELECT pin FROM contact_lists ORDER BY 1"
        )
    ]
