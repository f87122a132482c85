"""Keyword rules per pool (the autoresponder), as checked by ``conversations.specs``."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.conversations.engine import Rule, RuleKind
from modemd.conversations.specs import RuleSpec
from modemd.store.contacts import NotFoundError

COLUMNS = "rule_id, pin, kind, pattern, reply, priority, period_s, enabled, created_at"


def _row(db: sqlite_utils.Database, pin: str, rule_id: int) -> dict[str, Any]:
    cursor = db.execute(
        f"SELECT {COLUMNS} FROM keyword_rules WHERE pin = ? AND rule_id = ?", [pin, rule_id]
    )
    row = cursor.fetchone()
    if row is None:
        raise NotFoundError(f"no rule {rule_id} in pool {pin}")
    found = dict(zip(COLUMNS.split(", "), row, strict=True))
    found["enabled"] = bool(found["enabled"])
    return found


def _values(spec: RuleSpec) -> list[Any]:
    """kind, pattern, reply, priority, period_s, enabled: as stored."""
    return [
        spec.kind.value,
        spec.pattern,
        spec.reply,
        spec.priority,
        spec.period_s,
        int(spec.enabled),
    ]


def create_rule(db: sqlite_utils.Database, pin: str, spec: RuleSpec) -> dict[str, Any]:
    cursor = db.execute(
        "INSERT INTO keyword_rules (pin, kind, pattern, reply, priority, period_s, enabled, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [pin, *_values(spec), time.time()],
    )
    return _row(db, pin, int(cursor.lastrowid or 0))


def replace_rule(
    db: sqlite_utils.Database, pin: str, rule_id: int, spec: RuleSpec
) -> dict[str, Any]:
    _row(db, pin, rule_id)
    db.execute(
        "UPDATE keyword_rules SET kind = ?, pattern = ?, reply = ?, priority = ?, period_s = ?, "
        "enabled = ? WHERE rule_id = ?",
        [*_values(spec), rule_id],
    )
    return _row(db, pin, rule_id)


def get_rule(db: sqlite_utils.Database, pin: str, rule_id: int) -> dict[str, Any]:
    return _row(db, pin, rule_id)


def delete_rule(db: sqlite_utils.Database, pin: str, rule_id: int) -> None:
    _row(db, pin, rule_id)
    db.execute("DELETE FROM keyword_rules WHERE rule_id = ?", [rule_id])


def list_rules(db: sqlite_utils.Database, pin: str) -> list[dict[str, Any]]:
    """In the order the engine tries them: by priority, then id; default rules last."""
    ids = db.execute(
        "SELECT rule_id FROM keyword_rules WHERE pin = ? "
        "ORDER BY kind = 'default', priority, rule_id",
        [pin],
    ).fetchall()
    return [_row(db, pin, r[0]) for r in ids]


def enabled_rules(db: sqlite_utils.Database, pin: str) -> tuple[Rule, ...]:
    """The pool's enabled rules as the engine takes them."""
    return tuple(
        Rule(
            r["rule_id"],
            RuleKind(r["kind"]),
            r["pattern"],
            r["reply"],
            r["priority"],
            r["period_s"],
        )
        for r in list_rules(db, pin)
        if r["enabled"]
    )
