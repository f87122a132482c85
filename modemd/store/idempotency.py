"""Idempotency-Keys (issue 18): a send remembered for 24 h with its request's hash, so that a
retry answers the first answer's jobs instead of new ones.

A send to one recipient keeps its job in ``idempotency_keys``; a send to several keeps each
recipient's outcome, in request order, in ``idempotent_batches``. A key names one request:
used once for one shape and again for the other, it is a conflict like any other request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from modemd.errors import ModemdError

IDEMPOTENCY_WINDOW_S = 24 * 3600  # an Idempotency-Key is remembered this long (issue 18)
TABLES = ("idempotency_keys", "idempotent_batches")
SHAPES = {"one": ("idempotency_keys", "job_id"), "several": ("idempotent_batches", "outcomes")}


class IdempotencyConflictError(ModemdError):
    """The Idempotency-Key was used in the window with a different request (code 12)."""


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str  # the client's Idempotency-Key
    request_hash: str  # sha256 of the normalised request


def _lookup(
    db: sqlite_utils.Database, shape: str, key_id: int, idempotency: Idempotency, now: float
) -> str | None:
    """What this key left in ``shape``'s table (``job_id`` or ``outcomes``), or None; stale
    rows are forgotten first. Another request's hash, or a row of the other shape: a conflict."""
    where = "key_id = ? AND idempotency_key = ?"
    for table in TABLES:
        db.execute(
            f"DELETE FROM {table} WHERE {where} AND created_at < ?",
            [key_id, idempotency.key, now - IDEMPOTENCY_WINDOW_S],
        )
    table, column = SHAPES[shape]
    other = next(t for t in TABLES if t != table)
    clash = db.execute(f"SELECT 1 FROM {other} WHERE {where}", [key_id, idempotency.key])
    row = db.execute(
        f"SELECT request_hash, {column} FROM {table} WHERE {where}", [key_id, idempotency.key]
    ).fetchone()
    if clash.fetchone() is not None or (row is not None and row[0] != idempotency.request_hash):
        raise IdempotencyConflictError(
            f"Idempotency-Key {idempotency.key[:64]!r} was used for a different request"
        )
    return None if row is None else str(row[1])


def first_job(
    db: sqlite_utils.Database, key_id: int, idempotency: Idempotency, now: float
) -> str | None:
    """The job id of the first one-recipient send with this key, or None (not seen)."""
    return _lookup(db, "one", key_id, idempotency, now)


def first_batch(
    db: sqlite_utils.Database, key_id: int, idempotency: Idempotency, now: float
) -> list[dict[str, Any]] | None:
    """The outcomes of the first several-recipient send with this key, or None (not seen)."""
    found = _lookup(db, "several", key_id, idempotency, now)
    if found is None:
        return None
    outcomes: list[dict[str, Any]] = json.loads(found)
    return outcomes


def remember_job(
    db: sqlite_utils.Database, key_id: int, idempotency: Idempotency, job_id: str, now: float
) -> None:
    db.execute(
        "INSERT INTO idempotency_keys (key_id, idempotency_key, request_hash, job_id, "
        "created_at) VALUES (?, ?, ?, ?, ?)",
        [key_id, idempotency.key, idempotency.request_hash, job_id, now],
    )


def remember_batch(
    db: sqlite_utils.Database,
    key_id: int,
    idempotency: Idempotency,
    outcomes: list[dict[str, Any]],
    now: float,
) -> None:
    """``outcomes``: per recipient in request order, ``to``, ``job_id`` (or None),
    ``refusal`` and ``detail``."""
    db.execute(
        "INSERT INTO idempotent_batches (key_id, idempotency_key, request_hash, outcomes, "
        "created_at) VALUES (?, ?, ?, ?, ?)",
        [key_id, idempotency.key, idempotency.request_hash, json.dumps(outcomes), now],
    )


def forget_stale(db: sqlite_utils.Database, now: float) -> int:
    """Remove batch rows past the window (retention; one-recipient rows go with their job)."""
    cursor = db.execute(
        "DELETE FROM idempotent_batches WHERE created_at < ?", [now - IDEMPOTENCY_WINDOW_S]
    )
    return int(cursor.rowcount)
