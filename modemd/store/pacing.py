"""What pacing needs to know: how many SMS parts a device sent since a moment."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils


def parts_sent_since(db: sqlite_utils.Database, device_id: str, since: datetime) -> int:
    """SMS parts ``device_id`` submitted at or after ``since`` (each part is one SMS)."""
    row = db.execute(
        "SELECT COUNT(*) FROM job_parts WHERE device_id = ? AND sent_at >= ?",
        [device_id, since.timestamp()],
    ).fetchone()
    return int(row[0])
