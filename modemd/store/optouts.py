"""Opt-outs per pool: every change kept (time, source, the message that caused it); the newest
change of a number is its state. An opted-out number gets nothing from its pool except the
answers to its own STOP/START/HELP/JOIN, and sends of ``transactional`` keys."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.store.contacts import read_cursor
from modemd.store.pool_events import CONTACT_OPTED_IN, CONTACT_OPTED_OUT, add_pool_event

SOURCES = ("keyword", "api", "import", "cli")
MAX_PAGE = 1000


class OptedOutError(Exception):
    """A send to a number that opted out of the pool (API: status_code 10, HTTP 409)."""

    def __init__(self, pin: str, number: str) -> None:
        super().__init__(f"{number} opted out of pool {pin} (texted STOP or was opted out)")
        self.pin = pin
        self.number = number


def is_opted_out(db: sqlite_utils.Database, pin: str, number: str) -> bool:
    row = db.execute(
        "SELECT opted_out FROM optout_changes WHERE pin = ? AND number = ? "
        "ORDER BY change_id DESC LIMIT 1",
        [pin, number],
    ).fetchone()
    return bool(row and row[0])


def refuse_opted_out(db: sqlite_utils.Database, pin: str, number: str, transactional: bool) -> None:
    """Raise ``OptedOutError`` for a send of a non-transactional key to an opted-out number."""
    if not transactional and is_opted_out(db, pin, number):
        raise OptedOutError(pin, number)


def opted_out_numbers(db: sqlite_utils.Database, pin: str) -> set[str]:
    """Every number of the pool whose newest change is an opt-out (lists, campaigns skip them)."""
    return {
        r[0]
        for r in db.execute(
            "SELECT c.number FROM optout_changes c WHERE c.pin = ? AND c.opted_out = 1 "
            "AND c.change_id = (SELECT max(change_id) FROM optout_changes o "
            "WHERE o.pin = c.pin AND o.number = c.number)",
            [pin],
        )
    }


def set_opt_out(
    db: sqlite_utils.Database,
    pin: str,
    number: str,
    opted_out: bool,
    *,
    source: str,
    message: str | None = None,
    device_id: str | None = None,
) -> bool:
    """Opt ``number`` out of (or back into) the pool; False when it already was. A change
    writes its ``contact.opted_out`` / ``contact.opted_in`` event in the same transaction."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    if is_opted_out(db, pin, number) == opted_out:
        return False
    now = time.time()
    db.execute(
        "INSERT INTO optout_changes (pin, number, opted_out, source, message, device_id, "
        "changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [pin, number, int(opted_out), source, message, device_id, now],
    )
    add_pool_event(
        db,
        pin,
        CONTACT_OPTED_OUT if opted_out else CONTACT_OPTED_IN,
        f"contact:{pin}:{number}",
        {
            "number": number,
            "source": source,
            "message": message,
            "device_id": device_id,
            "changed_at": now,
        },
    )
    return True


def list_opted_out(
    db: sqlite_utils.Database, pin: str, cursor: str | None = None, limit: int = 100
) -> tuple[list[dict[str, Any]], str | None]:
    """Numbers opted out now, oldest change first, with the change that did it; next cursor."""
    after = read_cursor(cursor, "o")
    limit = max(1, min(limit, MAX_PAGE))
    rows = db.execute(
        "SELECT c.change_id, c.number, c.source, c.message, c.device_id, c.changed_at "
        "FROM optout_changes c WHERE c.pin = ? AND c.opted_out = 1 AND c.change_id > ? "
        "AND c.change_id = (SELECT max(change_id) FROM optout_changes o "
        "WHERE o.pin = c.pin AND o.number = c.number) ORDER BY c.change_id LIMIT ?",
        [pin, after, limit + 1],
    ).fetchall()
    page = rows[:limit]
    names = ("number", "source", "message", "device_id", "changed_at")
    items = [dict(zip(names, r[1:], strict=True)) for r in page]
    return items, (f"o{page[-1][0]}" if len(rows) > limit else None)


def history(db: sqlite_utils.Database, pin: str, number: str) -> list[dict[str, Any]]:
    """Every change of one number, oldest first."""
    rows = db.execute(
        "SELECT opted_out, source, message, device_id, changed_at FROM optout_changes "
        "WHERE pin = ? AND number = ? ORDER BY change_id",
        [pin, number],
    ).fetchall()
    return [
        {
            "opted_out": bool(r[0]),
            "source": r[1],
            "message": r[2],
            "device_id": r[3],
            "changed_at": r[4],
        }
        for r in rows
    ]


def import_opt_outs(
    db: sqlite_utils.Database, pin: str, numbers: list[str], note: str | None = None
) -> dict[str, int]:
    """Opt every number out (source ``import``), in the caller's one transaction."""
    changed = sum(
        set_opt_out(db, pin, number, True, source="import", message=note) for number in numbers
    )
    return {"opted_out": changed, "already": len(numbers) - changed}
