"""Automatic replies (keyword answers, rule replies, survey questions): each is recorded with
what it answers and, when due, becomes an ordinary job of the pool, sent by the dispatcher.

Their jobs belong to the pool's system key, made on first use and revoked at once: it never
authenticates anything, it only owns these jobs (``modemd keys list`` shows it, labelled)."""

from __future__ import annotations

import time

import sqlite_utils

from modemd.conversations.questions import reply_size
from modemd.model import Job
from modemd.store import jobs as job_rows
from modemd.store.optouts import is_opted_out

SYSTEM_KEY_LABEL = "modemd: automatic replies of pool {pin} (revoked: never authenticates)"
EXEMPT_TAGS = ("opt_out", "opt_in", "help", "join", "leave")  # answers to the person's keyword


def system_key_id(db: sqlite_utils.Database, pin: str) -> int:
    """The pool's key for automatic replies (created revoked on first use)."""
    label = SYSTEM_KEY_LABEL.format(pin=pin)
    row = db.execute("SELECT key_id FROM api_keys WHERE pin = ? AND label = ?", [pin, label])
    found = row.fetchone()
    if found:
        return int(found[0])
    now = time.time()
    cursor = db.execute(
        "INSERT INTO api_keys (prefix, hash, pin, allow_ips, over_ip, ipn_url, label, "
        "created_at, revoked_at) VALUES (?, '', ?, '[]', 0, NULL, ?, ?, ?)",
        [f"system-{pin}"[:64], pin, label, now, now],
    )
    return int(cursor.lastrowid or 0)


def _job(db: sqlite_utils.Database, pin: str, number: str, text: str, id_device: str | None) -> Job:
    parts, encoding = reply_size(text)
    return job_rows.insert_job(
        db,
        key_id=system_key_id(db, pin),
        pin=pin,
        to=number,
        message=text,
        parts=parts,
        encoding=encoding,
        id_device=id_device,
    )


def record_reply(
    db: sqlite_utils.Database,
    pin: str,
    number: str,
    *,
    tag: str,
    text: str,
    id_device: str | None,
    due_at: float,
    cause: str,
) -> Job | None:
    """Record the reply; its job when due now (the caller hands it to the pool), else None
    (it waits for the end of quiet hours: ``release_due``)."""
    now = time.time()
    job = _job(db, pin, number, text, id_device) if due_at <= now else None
    db.execute(
        "INSERT INTO auto_replies (pin, number, rule, text, id_device, state, due_at, job_id, "
        "cause, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            pin,
            number,
            tag,
            text,
            id_device,
            "queued" if job else "waiting",
            due_at,
            job.job_id if job else None,
            cause,
            now,
        ],
    )
    return job


def last_replies(
    db: sqlite_utils.Database, pin: str, number: str, since: float
) -> dict[str, float]:
    """Reply tag -> when the newest automatic reply of that tag to ``number`` was decided."""
    rows = db.execute(
        "SELECT rule, max(created_at) FROM auto_replies WHERE pin = ? AND number = ? "
        "AND created_at >= ? GROUP BY rule",
        [pin, number, since],
    )
    return {r[0]: r[1] for r in rows}


def next_release_at(db: sqlite_utils.Database) -> float | None:
    """When the first held reply's quiet hours end (None: no reply is held)."""
    row = db.execute("SELECT min(due_at) FROM auto_replies WHERE state = 'waiting'").fetchone()
    return row[0] if row else None


def release_due(db: sqlite_utils.Database, now: float) -> list[Job]:
    """Replies whose quiet hours ended become jobs; those to numbers that opted out meanwhile
    are dropped (unless they answer the person's own keyword)."""
    rows = db.execute(
        "SELECT reply_id, pin, number, rule, text, id_device FROM auto_replies "
        "WHERE state = 'waiting' AND due_at <= ? ORDER BY reply_id",
        [now],
    ).fetchall()
    made = []
    for reply_id, pin, number, tag, text, id_device in rows:
        if tag.split(":")[0] not in EXEMPT_TAGS and is_opted_out(db, pin, number):
            db.execute("UPDATE auto_replies SET state = 'dropped' WHERE reply_id = ?", [reply_id])
            continue
        job = _job(db, pin, number, text, id_device)
        db.execute(
            "UPDATE auto_replies SET state = 'queued', job_id = ? WHERE reply_id = ?",
            [job.job_id, reply_id],
        )
        made.append(job)
    return made


def list_replies(db: sqlite_utils.Database, pin: str, limit: int = 100) -> list[dict[str, object]]:
    """The newest automatic replies of the pool."""
    return list(
        db.query(
            "SELECT reply_id, number, rule, text, id_device, state, due_at, job_id, cause, "
            "created_at FROM auto_replies WHERE pin = ? ORDER BY reply_id DESC LIMIT ?",
            [pin, limit],
        )
    )
