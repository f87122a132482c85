"""Contact lists per pool and their members (numbers in E.164 with optional fields).

A list is named by its id or its name (case-insensitive, unique per pool). Functions take
plain values and run inside the store's transaction; an import is one call, so a file is
stored whole or not at all."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import sqlite_utils

from modemd.model import Member

MAX_NAME_CHARS = 64
LIST_NAME = re.compile(r"^[^\s].{0,63}$")  # no leading space; JOIN takes the rest of the text
MAX_PAGE = 1000
DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit() also takes "³"


class NotFoundError(LookupError):
    """No such list, member, rule or survey in this pool (API: 404)."""


class ConflictError(ValueError):
    """The change collides with what is stored, e.g. a list name taken (API: 409)."""


def read_cursor(cursor: str | None, letter: str) -> int:
    """The row id after which a page starts (``<letter><id>``; none: 0)."""
    if not cursor:
        return 0
    if not cursor.startswith(letter) or not DIGITS.fullmatch(cursor[1:]):
        raise ValueError("cursor: not one this API returned")
    return int(cursor[1:])


def check_list_name(name: Any) -> str:
    """A list name: 1-64 characters, not starting with a space (``ValueError`` otherwise)."""
    if not isinstance(name, str) or not LIST_NAME.match(name.strip() or " "):
        raise ValueError(f"a list name is 1 to {MAX_NAME_CHARS} characters")
    return name.strip()


def _list_row(db: sqlite_utils.Database, pin: str, list_id: int) -> dict[str, Any]:
    row = db.execute(
        "SELECT l.list_id, l.pin, l.name, l.keyword_join, l.welcome_text, l.created_at, "
        "l.updated_at, (SELECT count(*) FROM list_members m WHERE m.list_id = l.list_id) "
        "FROM contact_lists l WHERE l.pin = ? AND l.list_id = ?",
        [pin, list_id],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no list {list_id} in pool {pin}")
    names = ("list_id", "pin", "name", "keyword_join", "welcome_text", "created_at", "updated_at")
    found = dict(zip(names, row[:7], strict=True))
    found["keyword_join"] = bool(found["keyword_join"])
    found["members"] = row[7]
    return found


def find_list_id(db: sqlite_utils.Database, pin: str, ref: str | int) -> int:
    """The id of the list ``ref`` (its id, or its name in any case) in pool ``pin``."""
    text = str(ref).strip()
    row = db.execute(
        "SELECT list_id FROM contact_lists WHERE pin = ? AND name = ? COLLATE NOCASE", [pin, text]
    ).fetchone()
    if row is None and DIGITS.fullmatch(text):
        row = db.execute(
            "SELECT list_id FROM contact_lists WHERE pin = ? AND list_id = ?", [pin, int(text)]
        ).fetchone()
    if row is None:
        raise NotFoundError(f"no list {text!r} in pool {pin}")
    return int(row[0])


def get_list(db: sqlite_utils.Database, pin: str, ref: str | int) -> dict[str, Any]:
    return _list_row(db, pin, find_list_id(db, pin, ref))


def list_lists(db: sqlite_utils.Database, pin: str) -> list[dict[str, Any]]:
    ids = [r[0] for r in db.execute("SELECT list_id FROM contact_lists WHERE pin = ?", [pin])]
    return [_list_row(db, pin, i) for i in sorted(ids)]


def _name_free(db: sqlite_utils.Database, pin: str, name: str, but: int | None = None) -> None:
    row = db.execute(
        "SELECT list_id FROM contact_lists WHERE pin = ? AND name = ? COLLATE NOCASE",
        [pin, name],
    ).fetchone()
    if row is not None and row[0] != but:
        raise ConflictError(f"pool {pin} already has a list named {name!r}")


def create_list(
    db: sqlite_utils.Database,
    pin: str,
    name: str,
    *,
    keyword_join: bool = True,
    welcome_text: str | None = None,
) -> dict[str, Any]:
    """A new list; its name is free in the pool whatever the case (else ``ConflictError``)."""
    name = check_list_name(name)
    _name_free(db, pin, name)
    now = time.time()
    cursor = db.execute(
        "INSERT INTO contact_lists (pin, name, keyword_join, welcome_text, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        [pin, name, int(keyword_join), welcome_text, now, now],
    )
    return _list_row(db, pin, int(cursor.lastrowid or 0))


def update_list(
    db: sqlite_utils.Database, pin: str, ref: str | int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Rename, or change ``keyword_join`` / ``welcome_text``."""
    list_id = find_list_id(db, pin, ref)
    if "name" in changes:
        changes["name"] = check_list_name(changes["name"])
        _name_free(db, pin, changes["name"], but=list_id)
    allowed = {k: changes[k] for k in ("name", "keyword_join", "welcome_text") if k in changes}
    if "keyword_join" in allowed:
        allowed["keyword_join"] = int(bool(allowed["keyword_join"]))
    if allowed:
        sets = ", ".join(f"{k} = ?" for k in allowed)
        db.execute(
            f"UPDATE contact_lists SET {sets}, updated_at = ? WHERE list_id = ?",
            [*allowed.values(), time.time(), list_id],
        )
    return _list_row(db, pin, list_id)


def delete_list(db: sqlite_utils.Database, pin: str, ref: str | int) -> int:
    """Delete the list and its memberships (opt-outs stay); returns its id."""
    list_id = find_list_id(db, pin, ref)
    db.execute("DELETE FROM list_members WHERE list_id = ?", [list_id])
    db.execute("DELETE FROM contact_lists WHERE list_id = ?", [list_id])
    return list_id


def add_members(
    db: sqlite_utils.Database, pin: str, ref: str | int, members: list[Member], source: str
) -> dict[str, int]:
    """Add or update members (same number: name and fields replaced); counts of each."""
    list_id = find_list_id(db, pin, ref)
    added = updated = 0
    now = time.time()
    for member in members:
        exists = db.execute(
            "SELECT 1 FROM list_members WHERE list_id = ? AND number = ?",
            [list_id, member.number],
        ).fetchone()
        fields = json.dumps(member.fields, ensure_ascii=False, sort_keys=True)
        if exists:
            db.execute(
                "UPDATE list_members SET name = ?, fields = ? WHERE list_id = ? AND number = ?",
                [member.name, fields, list_id, member.number],
            )
            updated += 1
        else:
            db.execute(
                "INSERT INTO list_members (list_id, number, name, fields, source, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [list_id, member.number, member.name, fields, source, now],
            )
            added += 1
    db.execute("UPDATE contact_lists SET updated_at = ? WHERE list_id = ?", [now, list_id])
    return {"list_id": list_id, "added": added, "updated": updated}


def remove_member(db: sqlite_utils.Database, pin: str, ref: str | int, number: str) -> None:
    list_id = find_list_id(db, pin, ref)
    cursor = db.execute(
        "DELETE FROM list_members WHERE list_id = ? AND number = ?", [list_id, number]
    )
    if cursor.rowcount == 0:
        raise NotFoundError(f"{number} is not a member of list {ref}")


def _member(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "number": row[1],
        "name": row[2],
        "fields": json.loads(row[3]),
        "source": row[4],
        "added_at": row[5],
    }


def members_page(
    db: sqlite_utils.Database, pin: str, ref: str | int, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Members in the order they were added, ``limit`` from after ``cursor``; and the next
    cursor (None: this was the last page). A cursor stays valid while members change."""
    list_id = find_list_id(db, pin, ref)
    after = read_cursor(cursor, "m")
    limit = max(1, min(limit, MAX_PAGE))
    rows = db.execute(
        "SELECT rowid, number, name, fields, source, added_at FROM list_members "
        "WHERE list_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
        [list_id, after, limit + 1],
    ).fetchall()
    page = rows[:limit]
    next_cursor = f"m{page[-1][0]}" if len(rows) > limit else None
    return [_member(r) for r in page], next_cursor


def all_members(db: sqlite_utils.Database, pin: str, ref: str | int) -> list[dict[str, Any]]:
    """Every member, in the order they were added (CSV export, surveys started for a list)."""
    list_id = find_list_id(db, pin, ref)
    rows = db.execute(
        "SELECT rowid, number, name, fields, source, added_at FROM list_members "
        "WHERE list_id = ? ORDER BY rowid",
        [list_id],
    ).fetchall()
    return [_member(r) for r in rows]


def member_of_pool(db: sqlite_utils.Database, pin: str, number: str) -> dict[str, Any] | None:
    """The newest membership of ``number`` in any list of the pool (placeholders)."""
    row = db.execute(
        "SELECT m.rowid, m.number, m.name, m.fields, m.source, m.added_at FROM list_members m "
        "JOIN contact_lists l USING (list_id) WHERE l.pin = ? AND m.number = ? "
        "ORDER BY m.rowid DESC LIMIT 1",
        [pin, number],
    ).fetchone()
    return _member(row) if row else None
