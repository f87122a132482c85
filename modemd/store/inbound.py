"""Inbound SMS: each stored once (its natural key per device), matched to the job it answers,
announced as ``sms.received`` to that job's key, in the same transaction. Listed by the inbox
API and CLI with a cursor (the row id). Functions run inside the store's transaction."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from modemd.model import EventType, InboundSms
from modemd.store import events
from modemd.store.batches import urgent
from modemd.store.filters import given

REPLY_WINDOW_S = 30 * 86400.0  # a message answers the pool's latest job to its sender this recent
# The jobs a message may answer (neither queued nor failed), read in two parts, each through an
# index of its own (migration 030), each with its index's condition word for word (SQLite reads
# a partial index only for a WHERE that holds it): jobs a device took (``jobs_pin_to_claimed``:
# written at the claim, out again at a requeue; no later move changes its condition) and jobs
# that never left the queue for a device (``jobs_pin_to_unclaimed``: cancelled, lapsed).
ANSWERABLE = "state NOT IN ('queued', 'failed')"
CLAIMED = "device_id IS NOT NULL"
UNCLAIMED = f"device_id IS NULL AND {ANSWERABLE}"
_REPLY_MATCH = tuple(
    "SELECT seq, job_id, key_id FROM jobs WHERE pin = ? AND to_number = ? AND created_at >= ? "
    f"AND {part} ORDER BY seq DESC LIMIT 1"
    for part in (f"{CLAIMED} AND {ANSWERABLE}", UNCLAIMED)
)
ITEM_COLUMNS = (
    "inbound_id, pin, device_id, sender, text, data, encoding, parts, incomplete, "
    "sent_at, received_at, reply_to_job_id"
)


@dataclass(frozen=True, slots=True)
class Stored:
    inbound_id: int
    duplicate: bool  # already stored (read twice): no new event
    reply_to_job_id: str | None


@urgent
def store_inbound(
    db: sqlite_utils.Database,
    device_id: str,
    pin: str,
    iccid: str,
    sender: str,
    sms: InboundSms,
) -> Stored:
    """Keep ``sms`` (``sender`` already in E.164 when a number) once; announce it once."""
    found = db.execute(
        "SELECT inbound_id, reply_to_job_id FROM inbound WHERE device_id = ? AND natural_key = ?",
        [device_id, sms.natural_key],
    ).fetchone()
    if found is not None:
        return Stored(found[0], True, found[1])
    now = time.time()
    reply = reply_to(db, pin, sender, now)
    cursor = db.execute(
        "INSERT INTO inbound (natural_key, pin, device_id, iccid, sender, text, data, encoding, "
        "parts, incomplete, sent_at, received_at, reply_to_job_id, raw) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            sms.natural_key,
            pin,
            device_id,
            iccid,
            sender,
            sms.text,
            sms.data,
            sms.encoding,
            sms.parts,
            int(sms.incomplete),
            sms.sent_at,
            now,
            reply[0] if reply else None,
            " ".join(sms.raw),
        ],
    )
    inbound_id = int(cursor.lastrowid or 0)
    item = get_inbound(db, inbound_id)
    assert item is not None
    # A reply goes to the key of the job it answers, anything else to every key of the pool;
    # each only when it takes sms.received (--events).
    key_ids = [reply[1]] if reply is not None else _pool_keys(db, pin)
    for key_id in key_ids:
        subject = reply[0] if reply is not None else f"inbound:{inbound_id}"
        events.add_subject_event(db, key_id, subject, EventType.SMS_RECEIVED, item)
    return Stored(inbound_id, False, reply[0] if reply else None)


def reply_to(
    db: sqlite_utils.Database, pin: str, sender: str, now: float
) -> tuple[str, int] | None:
    """The job (its id and key) a message from ``sender`` to the pool answers: the pool's
    latest job to that number accepted within ``REPLY_WINDOW_S`` that was not refused by the
    network or never sent (queued, failed). Read through ``jobs_pin_to_claimed`` and
    ``jobs_pin_to_unclaimed`` (migration 030; 029's ``jobs_pin_to`` before it, which every
    accept wrote), the sender's jobs newest first in each: a sender with none costs two
    look-ups, not every job of the window's."""
    params = [pin, sender, now - REPLY_WINDOW_S]
    found = [row for sql in _REPLY_MATCH if (row := db.execute(sql, params).fetchone())]
    if not found:
        return None
    _, job_id, key_id = max(found)  # the newer of the two parts' latest
    return str(job_id), int(key_id)


def _pool_keys(db: sqlite_utils.Database, pin: str) -> list[int]:
    rows = db.execute(
        "SELECT key_id FROM api_keys WHERE pin = ? AND revoked_at IS NULL ORDER BY key_id", [pin]
    )
    return [int(key_id) for (key_id,) in rows]


def phone_cursor(db: sqlite_utils.Database, device_id: str) -> float | None:
    """The app's time of the newest SMS stored from the phone ``device_id`` (its inbox cursor)."""
    row = db.execute(
        "SELECT MAX(sent_at) FROM inbound WHERE device_id = ? AND natural_key LIKE 'app-%'",
        [device_id],
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def as_item(row: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the API, the CLI and the ``sms.received`` IPN show it."""
    data = row["data"]
    return {
        "id": row["inbound_id"],
        "from": row["sender"],
        "text": row["text"],
        "data": base64.b64encode(data).decode() if data is not None else None,
        "encoding": row["encoding"],
        "pin": row["pin"],
        "device_id": row["device_id"],
        "sent_at": row["sent_at"],
        "received_at": row["received_at"],
        "parts": row["parts"],
        "incomplete": bool(row["incomplete"]),
        "reply_to_job_id": row["reply_to_job_id"],
    }


# A key sees its pool's messages that answer none of another key's jobs.
VISIBLE = (
    "pin = ? AND (reply_to_job_id IS NULL OR reply_to_job_id IN "
    "(SELECT job_id FROM jobs WHERE key_id = ?))"
)


def get_inbound(
    db: sqlite_utils.Database,
    inbound_id: int,
    *,
    pin: str | None = None,
    key_id: int | None = None,
) -> dict[str, Any] | None:
    """One message; with ``pin`` and ``key_id``, only one that key may see."""
    sql = f"SELECT {ITEM_COLUMNS} FROM inbound WHERE inbound_id = ?"
    params: list[object] = [inbound_id]
    if pin is not None and key_id is not None:
        sql += f" AND {VISIBLE}"
        params += [pin, key_id]
    rows = list(db.query(sql, params))
    return as_item(rows[0]) if rows else None


def list_inbound(
    db: sqlite_utils.Database,
    *,
    pin: str | None = None,
    key_id: int | None = None,
    sender: str | None = None,
    device_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Messages after the cursor ``after_id``, oldest first, filtered (with ``pin`` and
    ``key_id``: only those that key may see)."""
    where: list[str] = ["inbound_id > ?"]
    params: list[object] = [after_id]
    if pin is not None and key_id is not None:
        where.append(VISIBLE)
        params += [pin, key_id]
    clauses, values = given(
        (
            ("sender = ?", sender),
            ("device_id = ?", device_id),
            ("received_at >= ?", since),
            ("received_at < ?", until),
        )
    )
    where += clauses
    params += values
    sql = f"SELECT {ITEM_COLUMNS} FROM inbound WHERE {' AND '.join(where)} "
    return [as_item(r) for r in db.query(sql + "ORDER BY inbound_id LIMIT ?", [*params, limit])]
