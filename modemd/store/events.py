"""The outbox: one row per IPN event, written in the transaction of the change it reports.

The IPN sender reads only committed rows, retries by ``next_attempt_at``, records every attempt,
and delivers a job's events in order (an event waits while an older one of its job is pending).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from modemd.model import EventState, EventType, Job


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    event_id: str
    job_id: str
    type: str
    payload: str  # the exact JSON body to POST
    attempts: int
    url: str
    created_at: float


def add_event(db: sqlite_utils.Database, job: Job, type_: EventType, extra: dict[str, Any]) -> str:
    """Write the event for ``job``'s new state; return its id."""
    now = time.time()
    event_id = f"evt_{secrets.token_hex(12)}"
    body = {
        "type": type_.value,
        "event_id": event_id,
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "data": {
            "job_id": job.job_id,
            "pin": job.pin,
            "to": job.to,
            "device_id": job.device_id,
            "parts": job.parts,
            "status": job.state.value,
            **extra,
        },
    }
    url = db.execute("SELECT ipn_url FROM api_keys WHERE key_id = ?", [job.key_id]).fetchone()
    state = EventState.PENDING if url and url[0] else EventState.NO_ENDPOINT
    db.table("events").insert(
        {
            "event_id": event_id,
            "job_id": job.job_id,
            "key_id": job.key_id,
            "type": type_.value,
            "payload": json.dumps(body, separators=(",", ":")),
            "state": state.value,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "created_at": now,
            "delivered_at": None,
        }
    )
    return event_id


def due_events(db: sqlite_utils.Database, now: float, limit: int = 100) -> list[OutboxEvent]:
    """Pending events whose time has come and that are the oldest pending one of their job."""
    rows = db.query(
        "SELECT e.event_id, e.job_id, e.type, e.payload, e.attempts, e.created_at, k.ipn_url "
        "FROM events e JOIN api_keys k USING (key_id) "
        "WHERE e.state = 'pending' AND e.next_attempt_at <= ? AND k.ipn_url IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events o WHERE o.job_id = e.job_id "
        "  AND o.state = 'pending' AND o.seq < e.seq) "
        "ORDER BY e.seq LIMIT ?",
        [now, limit],
    )
    return [
        OutboxEvent(
            event_id=r["event_id"],
            job_id=r["job_id"],
            type=r["type"],
            payload=r["payload"],
            attempts=r["attempts"],
            url=r["ipn_url"],
            created_at=r["created_at"],
        )
        for r in rows
    ]


def next_due_at(db: sqlite_utils.Database) -> float | None:
    """When the earliest pending event is due, None when there is none."""
    row = db.execute(
        "SELECT min(e.next_attempt_at) FROM events e JOIN api_keys k USING (key_id) "
        "WHERE e.state = 'pending' AND k.ipn_url IS NOT NULL"
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def record_attempt(
    db: sqlite_utils.Database,
    event_id: str,
    *,
    http_status: int | None,
    error: str | None,
    delivered: bool,
    next_attempt_at: float | None,
) -> None:
    """Log one POST and move the event on (delivered, or due again at ``next_attempt_at``)."""
    now = time.time()
    row = db.execute("SELECT attempts FROM events WHERE event_id = ?", [event_id]).fetchone()
    attempt = int(row[0]) + 1
    db.table("event_attempts").insert(
        {
            "event_id": event_id,
            "attempt": attempt,
            "at": now,
            "http_status": http_status,
            "error": error,
        }
    )
    if delivered:
        db.execute(
            "UPDATE events SET state = 'delivered', attempts = ?, delivered_at = ?, "
            "last_error = NULL WHERE event_id = ?",
            [attempt, now, event_id],
        )
    else:
        db.execute(
            "UPDATE events SET attempts = ?, next_attempt_at = ?, last_error = ? "
            "WHERE event_id = ?",
            [attempt, next_attempt_at, error, event_id],
        )


def list_events(db: sqlite_utils.Database, job_id: str) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT event_id, type, state, attempts, last_error, created_at, delivered_at "
            "FROM events WHERE job_id = ? ORDER BY seq",
            [job_id],
        )
    )
