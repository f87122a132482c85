"""What the operator console shows of received SMS: a page of messages, newest first, each with
the IPN events that announced it (and how far each got) and the automatic replies it caused.
Reads only."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from modemd.model import EventType
from modemd.store.conversations import reply_cause
from modemd.store.filters import given

__all__ = ["PAGE_SIZE", "PAGE_SIZE_MAX", "answers_to", "inbound_page"]
ANSWERS_SHOWN = 20  # on a job's page; the inbound page has them all

PAGE_SIZE = 50
PAGE_SIZE_MAX = 200
MATCH_CHARS = 40  # a sender filter longer than any sender (E.164: 15 digits; names: 11)
_COLUMNS = (
    "inbound_id, pin, device_id, sender, text, encoding, parts, incomplete, sent_at, "
    "received_at, reply_to_job_id, length(data) AS data_bytes"
)


def _like(value: str) -> str:
    """``value`` as a LIKE pattern matching it anywhere: a number by its digits (``+39 333``
    finds ``+39333...``), a name as typed; wildcards in it are taken literally."""
    digits = "".join(c for c in value if c.isdigit())
    plain = digits if digits and all(c.isdigit() or c in "+ -()./" for c in value) else value
    escaped = plain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def inbound_page(
    db: sqlite_utils.Database,
    *,
    pin: str | None = None,
    device_id: str | None = None,
    sender: str | None = None,
    before_id: int | None = None,
    inbound_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[dict[str, Any]], int | None]:
    """Messages (a long one joined, as stored) newest first, filtered; with each its ``ipn``
    events and its ``replies``. Also the id to pass as ``before_id`` for the next (older)
    page, None when there is none."""
    where, params = given(
        (
            ("inbound_id < ?", before_id),
            ("inbound_id = ?", inbound_id),
            ("pin = ?", pin or None),
            ("device_id = ?", device_id or None),
            ("sender LIKE ? ESCAPE '\\'", _like(sender[:MATCH_CHARS]) if sender else None),
        )
    )
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    rows = list(
        db.query(
            f"SELECT {_COLUMNS} FROM inbound WHERE {' AND '.join(['1 = 1', *where])} "
            "ORDER BY inbound_id DESC LIMIT ?",
            [*params, limit + 1],
        )
    )
    older = rows[limit - 1]["inbound_id"] if len(rows) > limit else None
    rows = rows[:limit]
    ipn = _events(db, rows)
    for row in rows:
        row["incomplete"] = bool(row["incomplete"])
        row["ipn"] = ipn.get(row["inbound_id"], [])
        row["replies"] = _replies(db, row)
    return rows, older


def _events(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> dict[int, list[dict]]:
    """The ``sms.received`` events of ``rows`` by message id. A reply's event is filed under
    the job it answers, any other under ``inbound:<id>``; the body names the message."""
    subjects = {f"inbound:{r['inbound_id']}" for r in rows}
    subjects |= {r["reply_to_job_id"] for r in rows if r["reply_to_job_id"]}
    if not subjects:
        return {}
    marks = ", ".join("?" for _ in subjects)
    found: dict[int, list[dict[str, Any]]] = {}
    for event in db.query(
        "SELECT event_id, key_id, state, attempts, delivered_at, payload FROM events "
        f"WHERE type = ? AND job_id IN ({marks}) ORDER BY seq",
        [EventType.SMS_RECEIVED.value, *sorted(subjects)],
    ):
        message_id = json.loads(event.pop("payload"))["data"]["id"]
        found.setdefault(int(message_id), []).append(event)
    return found


def _replies(db: sqlite_utils.Database, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Automatic replies the message caused: recorded for its sender with it as their cause,
    after it was stored and before the sender's next message was."""
    if row["text"] is None:
        return []
    return list(
        db.query(
            "SELECT reply_id, rule, text, state, job_id, due_at FROM auto_replies "
            "WHERE pin = ? AND number = ? AND cause = ? AND created_at >= ? AND created_at < "
            "COALESCE((SELECT MIN(received_at) FROM inbound WHERE pin = ? AND sender = ? "
            "AND inbound_id > ?), 1e300) ORDER BY reply_id",
            [
                row["pin"],
                row["sender"],
                reply_cause(row["sender"], row["text"]),
                row["received_at"],
                row["pin"],
                row["sender"],
                row["inbound_id"],
            ],
        )
    )


def answers_to(db: sqlite_utils.Database, job_id: str) -> list[dict[str, Any]]:
    """The first messages received that answer ``job_id`` (its timeline shows them)."""
    return list(
        db.query(
            "SELECT inbound_id, sender, text, encoding, parts, received_at FROM inbound "
            "WHERE reply_to_job_id = ? ORDER BY inbound_id LIMIT ?",
            [job_id, ANSWERS_SHOWN],
        )
    )
