"""Sends refused as ``blocked_destination``: kept so an operator sees them and counts them."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils


def record_refusal(
    db: sqlite_utils.Database, key_id: int, to: str, reason: str, detail: str
) -> None:
    db.execute(
        "INSERT INTO refusals (key_id, to_number, reason, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [key_id, to, reason, detail[:300], time.time()],
    )


def list_refusals(
    db: sqlite_utils.Database, *, key_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first."""
    where, params = ("key_id = ?", [key_id]) if key_id is not None else ("1 = 1", [])
    return list(
        db.query(
            "SELECT refusal_id, key_id, to_number AS 'to', reason, detail, created_at "
            f"FROM refusals WHERE {where} ORDER BY refusal_id DESC LIMIT ?",
            [*params, limit],
        )
    )


def count_by_reason(db: sqlite_utils.Database) -> dict[str, int]:
    return {
        r[0]: int(r[1])
        for r in db.execute("SELECT reason, count(*) FROM refusals GROUP BY reason ORDER BY 1")
    }
