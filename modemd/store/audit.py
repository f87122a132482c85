"""The audit log: who changed what through the admin API, the console or the CLI, and when.

An audited action and its row commit in the same transaction (``audited``); rows are only
ever appended. ``actor`` says who: ``socket uid 1000 (alice)``, ``admin token``, ``console
session ab12cd``, ``cli root``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlite_utils

log = logging.getLogger(__name__)

T = TypeVar("T")


def record(
    db: sqlite_utils.Database, actor: str, action: str, target: str = "", detail: str = ""
) -> None:
    db.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        [time.time(), actor[:200], action, target[:200], detail[:500]],
    )
    log.info("audit: %s %s %s by %s", action, target, detail, actor)


def audited(
    db: sqlite_utils.Database,
    actor: str,
    action: str,
    target: str,
    fn: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """``fn(db, *args, **kwargs)`` and its audit row, together; nothing is recorded when ``fn``
    did nothing (returned None, False or an empty list). A ``target`` of ``"key"`` is completed
    with the id of the key ``fn`` returned (creation)."""
    result = fn(db, *args, **kwargs)
    if result is None or result is False or result == []:
        return result
    if target == "key":
        made = result[0] if isinstance(result, tuple) else result
        target = f"key {getattr(made, 'key_id', '?')}"
    record(db, actor, action, target, _detail(kwargs, args))
    return result


def _detail(kwargs: dict[str, Any], args: tuple[Any, ...]) -> str:
    """What was asked, without secrets (no argument of an audited action carries one)."""
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return ", ".join(shown)


def list_audit(
    db: sqlite_utils.Database, *, since: float | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest first."""
    return list(
        db.query(
            "SELECT audit_id, at, actor, action, target, detail FROM audit_log "
            "WHERE at >= ? ORDER BY audit_id DESC LIMIT ?",
            [since or 0.0, limit],
        )
    )


def audited_transaction(db: sqlite_utils.Database, *args: Any, **kwargs: Any) -> Any:
    """``audited`` (same arguments after ``db``) in its own transaction, for a direct
    connection (the CLI's ``connect``)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        result = audited(db, *args, **kwargs)
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")
    return result
