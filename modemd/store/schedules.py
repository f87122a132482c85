"""Schedules: a rule (cron or RRULE, in a time zone) with a template and its recipients; each
slot makes one campaign. A slot's run and the schedule's next slot are written in one
transaction, and ``campaigns(schedule_id, slot)`` is unique: a slot never runs twice, even
when the daemon is killed at the slot boundary."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict
from typing import Any

import sqlite_utils

from modemd.model import Lane
from modemd.store import campaigns, dialect
from modemd.store.campaigns import Recipient

MISSED_POLICIES = ("skip", "run_once")


def new_schedule_id() -> str:
    return f"sch_{int(time.time() * 1000):x}{secrets.token_hex(4)}"


def create(
    db: sqlite_utils.Database,
    *,
    key_id: int,
    pin: str,
    name: str,
    kind: str,
    expression: str,
    timezone: str,
    missed: str,
    template: str,
    recipients: list[Recipient],
    report: dict[str, Any],
    lane: Lane,
    ttl_s: float | None,
    start: float,
    next_slot: float,
) -> str:
    schedule_id = new_schedule_id()
    db.table("schedules").insert(
        {
            "schedule_id": schedule_id,
            "key_id": key_id,
            "pin": pin,
            "name": name,
            "kind": kind,
            "expression": expression,
            "timezone": timezone,
            "missed": missed,
            "template": template,
            "recipients": json.dumps([asdict(r) for r in recipients]),
            "report": json.dumps(report),
            "lane": lane.value,
            "ttl_s": ttl_s,
            "start": start,
            "anchor": None,
            "next_slot": next_slot,
            "last_slot": None,
            "created_at": time.time(),
            "deleted_at": None,
        }
    )
    return schedule_id


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "schedule_id": row["schedule_id"],
        "pin": row["pin"],
        "name": row["name"],
        "kind": row["kind"],
        "expression": row["expression"],
        "timezone": row["timezone"],
        "missed": row["missed"],
        "template": row["template"],
        "lane": row["lane"],
        "ttl_s": row["ttl_s"],
        "recipients": json.loads(row["report"]).get("valid", 0),
        "next_slot": row["next_slot"],
        "last_slot": row["last_slot"],
        "created_at": row["created_at"],
    }


def list_schedules(db: sqlite_utils.Database, pin: str) -> list[dict[str, Any]]:
    return [
        _shown(r)
        for r in db.query(
            "SELECT * FROM schedules WHERE pin = ? AND deleted_at IS NULL ORDER BY created_at",
            [pin],
        )
    ]


def detail(db: sqlite_utils.Database, schedule_id: str, pin: str) -> dict[str, Any]:
    """The schedule with its report and runs (newest first); ``LookupError`` when not ours."""
    row = _get(db, schedule_id, pin)
    runs = list(
        db.query(
            "SELECT campaign_id, slot, state FROM campaigns WHERE schedule_id = ? "
            "ORDER BY slot DESC LIMIT 100",
            [schedule_id],
        )
    )
    return {**_shown(row), "report": json.loads(row["report"]), "runs": runs}


def remove(db: sqlite_utils.Database, schedule_id: str, pin: str) -> None:
    """It fires no more (its past runs are kept)."""
    _get(db, schedule_id, pin)
    db.execute(
        "UPDATE schedules SET deleted_at = ?, next_slot = NULL WHERE schedule_id = ?",
        [time.time(), schedule_id],
    )


def due(db: sqlite_utils.Database, now: float) -> list[dict[str, Any]]:
    """Live schedules whose next slot has come."""
    return list(
        db.query(
            "SELECT * FROM schedules WHERE deleted_at IS NULL AND next_slot <= ? "
            "ORDER BY next_slot",
            [now],
        )
    )


def next_due_at(db: sqlite_utils.Database) -> float | None:
    row = db.execute("SELECT min(next_slot) FROM schedules WHERE deleted_at IS NULL").fetchone()
    return row[0] if row and row[0] is not None else None


def advance(
    db: sqlite_utils.Database,
    schedule_id: str,
    *,
    expected: float,
    runs: list[float],
    last_slot: float,
    next_slot: float | None,
    anchor: str | None,
) -> list[str]:
    """Run ``runs`` (one running campaign each) and move the schedule to ``next_slot``, in
    one transaction; returns the campaigns made. Nothing happens when the schedule moved on
    meanwhile (``expected`` is not its next slot any more) or was removed."""
    cursor = db.execute(
        "SELECT * FROM schedules WHERE schedule_id = ? AND deleted_at IS NULL AND next_slot = ?",
        [schedule_id, expected],
    )
    row = cursor.fetchone()
    if row is None:
        return []
    schedule = dict(zip([d[0] for d in cursor.description], row, strict=True))
    made = []
    for slot in runs:
        campaign_id = _run(db, schedule, slot)
        if campaign_id is not None:
            made.append(campaign_id)
    db.execute(
        "UPDATE schedules SET next_slot = ?, last_slot = ?, anchor = coalesce(?, anchor) "
        "WHERE schedule_id = ?",
        [next_slot, last_slot, anchor, schedule_id],
    )
    return made


def _run(db: sqlite_utils.Database, schedule: dict[str, Any], slot: float) -> str | None:
    """One slot's campaign, running; None when this slot already has one."""
    db.execute("SAVEPOINT slot")
    try:
        campaign_id = campaigns.create(
            db,
            key_id=schedule["key_id"],
            pin=schedule["pin"],
            template=schedule["template"],
            name=schedule["name"],
            lane=Lane(schedule["lane"]),
            ttl_s=schedule["ttl_s"],
            schedule_id=schedule["schedule_id"],
            slot=slot,
        )
    except dialect.INTEGRITY_ERRORS:  # campaigns(schedule_id, slot) is unique: it ran already
        db.execute("ROLLBACK TO slot")
        db.execute("RELEASE slot")
        return None
    db.execute("RELEASE slot")
    recipients = [Recipient(**r) for r in json.loads(schedule["recipients"])]
    campaigns.add_recipients(db, campaign_id, recipients)
    campaigns.finish_validation(db, campaign_id, json.loads(schedule["report"]))
    campaigns.start(db, campaign_id, schedule["pin"])
    return campaign_id


def _get(db: sqlite_utils.Database, schedule_id: str, pin: str) -> dict[str, Any]:
    cursor = db.execute(
        "SELECT * FROM schedules WHERE schedule_id = ? AND pin = ? AND deleted_at IS NULL",
        [schedule_id, pin],
    )
    row = cursor.fetchone()
    if row is None:
        raise LookupError(f"no schedule {schedule_id}")
    return dict(zip([d[0] for d in cursor.description], row, strict=True))
