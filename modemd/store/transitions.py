"""The job state machine's one door: reading a job and moving it (with its credit and its
event in the same transaction). ``store.jobs`` and ``store.reports`` both move jobs through it."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from modemd.errors import InvalidTransitionError
from modemd.model import (
    FINAL_JOB_STATES,
    JOB_TRANSITIONS,
    MANUAL_RETRY_FROM,
    EventType,
    Job,
    JobState,
    Lane,
)
from modemd.store import events, wallet

REPORT_WINDOW_S = 72 * 3600  # a status report older than this matches no sent part


def job_from_row(row: dict[str, Any]) -> Job:
    return Job(
        job_id=row["job_id"],
        key_id=row["key_id"],
        pin=row["pin"],
        to=row["to_number"],
        message=row["message"],
        state=JobState(row["state"]),
        id_device=row["id_device"],
        device_id=row["device_id"],
        parts=row["parts"],
        encoding=row["encoding"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lane=Lane(row["lane"]),
        send_at=row["send_at"],
        valid_until=row["valid_until"],
        campaign_id=row["campaign_id"],
    )


def known_jobs(db: sqlite_utils.Database, job_ids: list[str]) -> set[str]:
    """Those of ``job_ids`` this store has (a phone's messages are made of job ids)."""
    if not job_ids:
        return set()
    marks = ", ".join("?" * len(job_ids))
    rows = db.conn.execute(f"SELECT job_id FROM jobs WHERE job_id IN ({marks})", job_ids)
    return {row[0] for row in rows.fetchall()}


def get_job(db: sqlite_utils.Database, job_id: str) -> Job | None:
    cursor = db.conn.execute("SELECT * FROM jobs WHERE job_id = ?", [job_id])
    row = cursor.fetchone()
    if row is None:
        return None
    return job_from_row(dict(zip([d[0] for d in cursor.description], row, strict=False)))


def move_job(
    db: sqlite_utils.Database,
    job: Job,
    new: JobState,
    *,
    event: EventType | None = None,
    event_data: dict[str, Any] | None = None,
    **fields: Any,
) -> Job:
    """The one place a job changes state: checks the transition, updates, writes the event."""
    current = get_job(db, job.job_id)
    if current is None:
        raise InvalidTransitionError(f"{job.job_id}: no such job")
    manual = fields.pop("_manual", False) and current.state in MANUAL_RETRY_FROM
    if new not in JOB_TRANSITIONS[current.state] and not manual:
        raise InvalidTransitionError(f"{job.job_id}: {current.state} -> {new} is not allowed")
    now = time.time()
    values: dict[str, Any] = {"state": new.value, "updated_at": now, **fields}
    values["final_at"] = now if new in FINAL_JOB_STATES else None
    db.conn.execute(
        f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)} WHERE job_id = ?",
        [*values.values(), job.job_id],
    )
    moved = get_job(db, job.job_id)
    assert moved is not None
    # Credit follows the job in the same transaction (charge when sent, refund when it failed
    # before the network); a job accepted without a wallet has no ledger rows: nothing happens.
    wallet.settle(db, moved, current.state)
    if event is not None:
        events.add_event(db, moved, event, event_data or {})
    return moved
