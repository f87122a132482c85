"""Jobs, their parts and their state machine (status reports are ``store.reports``).

Functions take the ``Database`` as first argument and run inside the store's transaction; an
event row is written in the same transaction as the state change it reports (the outbox)."""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import sqlite_utils

from modemd.errors import InvalidTransitionError
from modemd.model import (
    MANUAL_RETRY_FROM,
    EventType,
    Job,
    JobState,
    Lane,
    SentPart,
)
from modemd.store import dialect, pacing, reports
from modemd.store.db import replayable
from modemd.store.transitions import (
    JOB_COLUMNS,
    REPORT_WINDOW_S,
    as_moved,
    get_job,
    job_from_row,
    job_from_tuple,
    move_job,
)

__all__ = [
    "REPORT_WINDOW_S",
    "attempts",
    "claim_job",
    "claim_next_high",
    "expire_unreported",
    "get_job",
    "get_job_detail",
    "insert_job",
    "insert_many",
    "list_jobs",
    "mark_failed",
    "mark_sent",
    "mark_unknown",
    "move_job",
    "new_job_id",
    "queued_jobs",
    "recover_interrupted",
    "requeue",
    "retry_by_operator",
]


# Why a job claimed by a run that crashed is queued again (its submit log says so).
NEVER_WRITTEN = "claimed, never written to the device before modemd stopped"


def new_job_id(now: float | None = None) -> str:
    """Time-ordered, unguessable: ``job_`` + ms timestamp hex (of ``now``, default the clock)
    + 8 random hex."""
    return f"job_{int((time.time() if now is None else now) * 1000):x}{os.urandom(4).hex()}"


# A new job's row: queued, on no device yet, no error. The state is written in the statement
# and the columns that are always NULL here are left out: sqlite3 binds an enum (a str
# subclass) or a None through its adapters' look-up, ~1,100 instructions or more each.
_INSERT_QUEUED = (
    "INSERT INTO jobs (job_id, key_id, pin, to_number, message, id_device, state, parts, "
    "encoding, created_at, updated_at, lane, send_at, valid_until, campaign_id, priced) "
    "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_job(
    db: sqlite_utils.Database,
    *,
    key_id: int,
    pin: str,
    to: str,
    message: str,
    parts: int,
    encoding: str,
    id_device: str | None = None,
    lane: Lane = Lane.HIGH,
    send_at: float | None = None,
    valid_until: float | None = None,
    campaign_id: str | None = None,
    now: float | None = None,
    priced: bool = True,
) -> Job:
    """Insert a new queued job. ``priced``: its key has a wallet (False: its moves read no
    ledger; the accept knows it, ``store.accept``; the default looks, as every older row)."""
    now = time.time() if now is None else now
    job_id = new_job_id(now)
    db.conn.execute(
        _INSERT_QUEUED,
        (
            job_id,
            key_id,
            pin,
            to,
            message,
            id_device,
            parts,
            encoding,
            now,
            now,
            lane._value_,  # (the plain str, as in ``move_job``: an enum binds as an enum)
            send_at,
            valid_until,
            campaign_id,
            1 if priced else 0,  # (an int: a bool binds through the adapters' look-up)
        ),
    )
    dialect.notify_queue(db)
    return Job(
        job_id,
        key_id,
        pin,
        to,
        message,
        JobState.QUEUED,
        id_device,
        None,
        parts,
        encoding,
        None,
        now,
        now,
        lane,
        send_at,
        valid_until,
        campaign_id,
        priced,
    )


def insert_many(
    db: sqlite_utils.Database, shared: dict[str, Any], each: list[dict[str, Any]]
) -> None:
    """Insert queued jobs in one statement (a campaign's batch): ``shared`` columns plus each
    row's own (``job_id``, ``to_number``, ``message``, ``parts``, ``encoding``, ``created_at``)."""
    if not each:
        return
    base = {"state": JobState.QUEUED.value, "id_device": None, "device_id": None, "error": None}
    columns = [*base, *shared, *each[0], "updated_at"]
    db.conn.executemany(
        f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [[*base.values(), *shared.values(), *row.values(), row["created_at"]] for row in each],
    )
    dialect.notify_queue(db)


def get_job_detail(db: sqlite_utils.Database, job_id: str) -> dict[str, Any] | None:
    """A job as the API shows it: the row, its parts, no message text hidden."""
    rows = list(db.table("jobs").rows_where("job_id = ?", [job_id]))
    if not rows:
        return None
    row = rows[0]
    parts = list(
        db.query(
            "SELECT part, mr, state, tp_status, sent_at, report_at FROM job_parts "
            "WHERE job_id = ? ORDER BY part",
            [job_id],
        )
    )
    return {
        "job_id": row["job_id"],
        "pin": row["pin"],
        "to": row["to_number"],
        "state": row["state"],
        "device_id": row["device_id"],
        "id_device": row["id_device"],
        "parts": row["parts"],
        "encoding": row["encoding"],
        "attempts": row["attempts"],
        "error": row["error"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "sent_at": row["sent_at"],
        "final_at": row["final_at"],
        "lane": row["lane"],
        "send_at": row["send_at"],
        "valid_until": row["valid_until"],
        "campaign_id": row["campaign_id"],
        "part_details": parts,
    }


def list_jobs(
    db: sqlite_utils.Database, *, state: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first."""
    where, params = ("state = ?", [state]) if state else ("1 = 1", [])
    return list(
        db.query(
            "SELECT job_id, pin, to_number AS 'to', state, device_id, parts, error, created_at "
            f"FROM jobs WHERE {where} ORDER BY seq DESC LIMIT ?",
            [*params, limit],
        )
    )


def queued_jobs(db: sqlite_utils.Database) -> list[Job]:
    """Queued high-lane jobs due now, in queue order (start-up: refill the pools). The others
    (bulk lane, a later ``send_at``) are fed to the pools by ``runtime.feeder``."""
    return [
        job_from_row(r)
        for r in db.table("jobs").rows_where(
            "state = 'queued' AND lane = 'high' AND send_at IS NULL", order_by="seq"
        )
    ]


def claim_job(
    db: sqlite_utils.Database, job_id: str, device_id: str, queued: Job | None = None
) -> Job | None:
    """Atomically give a queued job to ``device_id``; None when it is no longer queued, is past
    its ``valid_until``, or its campaign is not running (paused or cancelled since it was fed).
    ``queued``: the caller's copy of the queued job; when the row is still that (its
    ``updated_at``), the claimed job is built from it instead of read back."""
    now = time.time()
    params: list[Any] = [device_id, now, job_id, now]
    skip = dialect.skip_locked(db)
    if skip:
        params.append(job_id)
    guarded, returning = _claim_of(skip)
    if queued is not None and queued.job_id == job_id:
        params.append(queued.updated_at)
        if db.conn.execute(guarded, params).rowcount == 1:
            return as_moved(queued, JobState.SENDING, now, {"device_id": device_id})
        params.pop()
    row = db.conn.execute(returning, params).fetchone()
    return None if row is None else job_from_tuple(row)


@functools.cache
def _claim_of(skip: str) -> tuple[str, str]:
    """``claim_job``'s UPDATE, made once per dialect (``skip``: its SKIP LOCKED, or ''):
    guarded by the caller's ``updated_at``, and returning the row (each text made once, not a
    string a claim: sqlite3 finds its prepared statement by the text)."""
    if skip:  # another host claiming the same job holds its row: skip it rather than wait
        skip = f"AND seq IN (SELECT seq FROM jobs WHERE job_id = ? {skip}) "
    claim = (
        "UPDATE jobs SET state = 'sending', device_id = ?, attempts = attempts + 1, "
        "updated_at = ? WHERE job_id = ? AND state = 'queued' "
        "AND (valid_until IS NULL OR valid_until > ?) AND (campaign_id IS NULL OR EXISTS "
        "(SELECT 1 FROM campaigns c WHERE c.campaign_id = jobs.campaign_id "
        f"AND c.state = 'running')) {skip}"
    )
    return f"{claim}AND updated_at = ?", f"{claim}RETURNING {JOB_COLUMNS}"


def claim_next_high(db: sqlite_utils.Database, pin: str, device_id: str) -> Job | None:
    """Hosts sharing the database: the oldest high-lane API send of ``pin`` that ``device_id``
    may take now, claimed, its row lock taken with SKIP LOCKED (rows another host is claiming
    are passed over); None when there is none. Campaign jobs keep their feeder (rates, quiet
    hours)."""
    now = time.time()
    row = db.execute(
        "UPDATE jobs SET state = 'sending', device_id = ?, attempts = attempts + 1, "
        "updated_at = ? WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' AND pin = ? "
        "AND lane = 'high' AND campaign_id IS NULL AND (send_at IS NULL OR send_at <= ?) "
        "AND (valid_until IS NULL OR valid_until > ?) AND (id_device IS NULL OR id_device = ?) "
        f"ORDER BY seq LIMIT 1 {dialect.skip_locked(db)}) RETURNING {JOB_COLUMNS}",
        [device_id, now, pin, now, now, device_id],
    ).fetchone()
    return job_from_tuple(row) if row else None


# A part sent, with the SIM the device holds now: caps follow the SIM (store/pacing.py).
_INSERT_PART = (
    "INSERT INTO job_parts (job_id, part, device_id, mr, state, tp_status, sent_at, "
    f"report_at, iccid) VALUES (?, ?, ?, ?, 'sent', NULL, ?, NULL, {pacing.DEVICE_ICCID})"
)


def mark_sent(db: sqlite_utils.Database, job: Job, parts: list[SentPart]) -> Job:
    """Every part got its TP-MR: record them, event ``sms.sent``."""
    assert job.device_id is not None
    now = time.time()
    rows = [(job.job_id, p.part, job.device_id, p.mr, now, job.device_id) for p in parts]
    if len(rows) == 1:  # most sends: ``executemany`` costs more for one row
        db.conn.execute(_INSERT_PART, rows[0])
    else:
        db.conn.executemany(_INSERT_PART, rows)
    pacing.count_sent(db, job.device_id, now, len(parts))
    pacing.count_pool_sent(db, job.pin, now, job.parts)
    sent = move_job(
        db,
        job,
        JobState.SENT,
        event=EventType.SMS_SENT,
        event_data={"message_references": [p.mr for p in parts]},
        sent_at=now,
    )
    # Reports that came before their part was recorded (see reports.adopt_early_reports).
    return reports.adopt_early_reports(db, sent, parts, since=job.updated_at)  # claim time


@replayable
def mark_failed(db: sqlite_utils.Database, job: Job, error: str, code: int | None = None) -> Job:
    return move_job(
        db,
        job,
        JobState.FAILED,
        event=EventType.SMS_FAILED,
        event_data={"error": error, "error_code": code},
        error=error,
    )


@replayable
def mark_unknown(db: sqlite_utils.Database, job: Job, error: str) -> Job:
    """The network may or may not have the message: never resend it automatically."""
    return move_job(
        db,
        job,
        JobState.UNKNOWN,
        event=EventType.SMS_UNKNOWN,
        event_data={"error": error},
        error=error,
    )


@replayable
def requeue(db: sqlite_utils.Database, job: Job, error: str, *, untried: bool = False) -> Job:
    """Nothing reached the network: the job may go to another device. ``untried``: its device
    never began it (a job claimed ahead and given back, a stop before its turn), so the claim's
    attempt is taken back: ``attempts`` counts tries that provably sent nothing."""
    dialect.notify_queue(db)
    moved = move_job(db, job, JobState.QUEUED, device_id=None, error=error)
    if untried:
        db.conn.execute(
            "UPDATE jobs SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END "
            "WHERE job_id = ?",
            [job.job_id],
        )
    return moved


def retry_by_operator(db: sqlite_utils.Database, job_id: str) -> Job:
    """A person decided to send an unknown/failed/expired job again: back in the queue.

    Never called by the daemon itself. The old parts' TP-MRs are dropped (reports for them
    would be stored as unmatched)."""
    job = get_job(db, job_id)
    if job is None:
        raise InvalidTransitionError(f"{job_id}: no such job")
    if job.state not in MANUAL_RETRY_FROM:
        raise InvalidTransitionError(
            f"{job_id} is {job.state}: only {', '.join(sorted(MANUAL_RETRY_FROM))} jobs can be "
            "retried"
        )
    db.execute("DELETE FROM job_parts WHERE job_id = ?", [job_id])
    return move_job(
        db,
        job,
        JobState.QUEUED,
        device_id=None,
        error=f"retried by operator after {job.state}",
        attempts=0,
        sent_at=None,
        _manual=True,
    )


def expire_unreported(db: sqlite_utils.Database, now: float) -> list[Job]:
    """Sent jobs with no final report within the window become ``expired`` (IPN says so).

    Devices that cannot route reports (no CNMI) never get one: their jobs stay ``sent``."""
    rows = db.query(
        "SELECT j.job_id FROM jobs j LEFT JOIN devices d USING (device_id) "
        "WHERE j.state = 'sent' AND j.sent_at < ? AND coalesce(d.reports, 1) = 1 ORDER BY j.seq",
        [now - REPORT_WINDOW_S],
    )
    expired = []
    for row in list(rows):
        job = get_job(db, row["job_id"])
        assert job is not None
        expired.append(
            move_job(
                db,
                job,
                JobState.EXPIRED,
                event=EventType.SMS_EXPIRED,
                event_data={"error": f"no status report within {REPORT_WINDOW_S // 3600} h"},
            )
        )
    return expired


def attempts(db: sqlite_utils.Database, job_id: str) -> int:
    row = db.execute("SELECT attempts FROM jobs WHERE job_id = ?", [job_id]).fetchone()
    return int(row[0]) if row else 0


def recover_interrupted(
    db: sqlite_utils.Database, host_id: str | None = None, never_written: set[str] | None = None
) -> list[Job]:
    """At start-up: a job left in ``sending`` by a crash has an unknown outcome, unless the
    submit log (``store.submits``) proves it was claimed and never written to its device
    (``never_written``): that one goes back to the queue. With ``host_id`` (hosts sharing the
    database) only the jobs of this host's devices (or of a device no host claimed): the
    others' jobs are theirs. Returns the jobs as they now stand."""
    where, params = "state = ?", ["sending"]
    if host_id is not None:
        where += (
            " AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_id = jobs.device_id "
            "AND d.host_id IS NOT NULL AND d.host_id != ?)"
        )
        params.append(host_id)
    stuck = [job_from_row(r) for r in db.table("jobs").rows_where(where, params, order_by="seq")]
    return [
        requeue(db, job, NEVER_WRITTEN)
        if never_written is not None and job.job_id in never_written
        else mark_unknown(db, job, "daemon stopped while sending")
        for job in stuck
    ]
