"""Queued jobs in time: the ones the feeder hands to the pools later (bulk lane, a later
``send_at``), the ones that lapse (still queued at ``valid_until``), and cancelling one."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from modemd.errors import InvalidTransitionError
from modemd.model import EventType, Job, JobState, Lane
from modemd.store import jobs
from modemd.store.transitions import JOB_COLUMNS, job_from_tuple

DEFAULT_MAX_QUEUE_AGE_S = 24 * 3600.0  # issue 16: a job nobody could send in a day is stale
MAX_SEND_AHEAD_S = 366 * 24 * 3600.0  # send_at at most a year ahead (leap years included)
LAPSE_BATCH = 500  # jobs lapsed per write at most: a big campaign never holds the writer long


def key_queue_settings(db: sqlite_utils.Database, key_id: int) -> tuple[Lane, float]:
    """The lane of the key's sends when a request names none (default high) and its maximum
    queue age (default 24 h), in one read (every accept asks)."""
    row = db.execute(
        "SELECT lane, max_queue_age_s FROM api_keys WHERE key_id = ?", [key_id]
    ).fetchone()
    return queue_settings(*(row or (None, None)))


def queue_settings(lane: str | None, max_queue_age: float | None) -> tuple[Lane, float]:
    """The key's stored ``lane`` and ``max_queue_age_s`` (NULL: the defaults) as values."""
    return Lane(lane) if lane else Lane.HIGH, float(max_queue_age or DEFAULT_MAX_QUEUE_AGE_S)


def max_queue_age_s(db: sqlite_utils.Database, key_id: int) -> float:
    """The key's maximum queue age (default 24 h)."""
    return key_queue_settings(db, key_id)[1]


def valid_until_after(accepted: float, send_at: float | None, max_queue_age: float) -> float:
    """max(accepted, send_at) + the key's maximum queue age."""
    return max(accepted, send_at or accepted) + max_queue_age


def default_valid_until(
    db: sqlite_utils.Database, key_id: int, accepted: float, send_at: float | None
) -> float:
    """max(accepted, send_at) + the key's maximum queue age."""
    return valid_until_after(accepted, send_at, max_queue_age_s(db, key_id))


def lapse_overdue(db: sqlite_utils.Database, now: float) -> list[Job]:
    """Queued jobs past their ``valid_until`` become ``lapsed`` (never sent; IPN ``sms.lapsed``,
    credit refunded). At most ``LAPSE_BATCH`` per call; the caller repeats while it gets some."""
    rows = db.execute(
        "SELECT job_id FROM jobs WHERE state = 'queued' AND valid_until <= ? "
        "ORDER BY valid_until LIMIT ?",
        [now, LAPSE_BATCH],
    ).fetchall()
    lapsed = []
    for (job_id,) in rows:
        job = jobs.get_job(db, job_id)
        assert job is not None
        lapsed.append(
            jobs.move_job(
                db,
                job,
                JobState.LAPSED,
                event=EventType.SMS_LAPSED,
                event_data={"valid_until": job.valid_until},
                error="still queued at valid_until: never sent",
            )
        )
    return lapsed


def cancel_job(db: sqlite_utils.Database, job_id: str, pin: str) -> Job:
    """A queued job of ``pin`` ends ``cancelled`` (IPN ``sms.cancelled``, credit refunded).

    ``InvalidTransitionError`` when there is no such job or it is no longer queued."""
    job = jobs.get_job(db, job_id)
    if job is None or job.pin != pin:
        raise LookupError(f"no job {job_id}")
    if job.state is not JobState.QUEUED:
        raise InvalidTransitionError(f"{job_id} is {job.state}: only a queued job can be cancelled")
    return jobs.move_job(
        db,
        job,
        JobState.CANCELLED,
        event=EventType.SMS_CANCELLED,
        event_data={"reason": "cancelled by the client"},
        error="cancelled",
    )


def cancel_campaign_jobs(db: sqlite_utils.Database, campaign_id: str, reason: str) -> int:
    """Every still-queued job of the campaign ends ``cancelled``; returns how many."""
    rows = db.execute(
        "SELECT job_id FROM jobs WHERE campaign_id = ? AND state = 'queued' ORDER BY seq",
        [campaign_id],
    ).fetchall()
    for (job_id,) in rows:
        job = jobs.get_job(db, job_id)
        assert job is not None
        jobs.move_job(
            db,
            job,
            JobState.CANCELLED,
            event=EventType.SMS_CANCELLED,
            event_data={"reason": reason, "campaign_id": campaign_id},
            error=reason,
        )
    return len(rows)


def due_high(db: sqlite_utils.Database, now: float, limit: int) -> list[Job]:
    """High-lane jobs whose ``send_at`` has come, oldest first."""
    return _jobs_where(
        db,
        "state = 'queued' AND lane = 'high' AND send_at IS NOT NULL AND send_at <= ? "
        "ORDER BY seq LIMIT ?",
        [now, limit],
    )


def claimable_high(db: sqlite_utils.Database, now: float, limit: int) -> list[Job]:
    """Every high-lane job that may go now, oldest first: on a database shared by hosts a job
    accepted by one is offered to the pools of all (the first claim wins)."""
    return _jobs_where(
        db,
        "state = 'queued' AND lane = 'high' AND (send_at IS NULL OR send_at <= ?) "
        "ORDER BY seq LIMIT ?",
        [now, limit],
    )


def due_bulk(db: sqlite_utils.Database, pin: str, now: float, limit: int) -> list[Job]:
    """The oldest bulk-lane jobs of ``pin`` that may go now: due, and not of a campaign that is
    paused or cancelled."""
    return _jobs_where(
        db,
        "state = 'queued' AND pin = ? AND lane = 'bulk' AND (send_at IS NULL OR send_at <= ?) "
        "AND (campaign_id IS NULL OR EXISTS (SELECT 1 FROM campaigns c "
        "WHERE c.campaign_id = jobs.campaign_id AND c.state = 'running')) "
        "ORDER BY seq LIMIT ?",
        [pin, now, limit],
    )


def bulk_pins(db: sqlite_utils.Database, pools: set[str]) -> list[str]:
    """Of ``pools`` and the pins of running campaigns, those with queued bulk-lane jobs (an
    index seek per pin: never a scan of a big campaign's jobs)."""
    pins = pools | {
        r[0] for r in db.execute("SELECT DISTINCT pin FROM campaigns WHERE state = 'running'")
    }
    return sorted(
        pin
        for pin in pins
        if db.execute(
            "SELECT 1 FROM jobs WHERE state = 'queued' AND pin = ? AND lane = 'bulk' LIMIT 1",
            [pin],
        ).fetchone()
    )


def next_times(
    db: sqlite_utils.Database, now: float, valid_until: bool
) -> tuple[float | None, float | None]:
    """The earliest future ``send_at`` of a queued job (a seek in the partial index of the
    deferred ones) and, when asked, the earliest ``valid_until`` of a queued job (a scan of
    the queued jobs: an index of them all would cost every job's insert and claim)."""
    send_at = db.execute(
        "SELECT min(send_at) FROM jobs WHERE state = 'queued' AND send_at > ?", [now]
    ).fetchone()
    until = (
        db.execute("SELECT min(valid_until) FROM jobs WHERE state = 'queued'").fetchone()
        if valid_until
        else None
    )
    return (send_at[0] if send_at else None), (until[0] if until else None)


def _jobs_where(db: sqlite_utils.Database, where: str, params: list[Any]) -> list[Job]:
    rows = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where}", params).fetchall()
    return [job_from_tuple(row) for row in rows]
