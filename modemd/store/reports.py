"""Status reports -> jobs: correlation by (device, TP-MR, recipient) within the report window,
multipart verdicts, reports that come before their part is recorded, and reports that settle an
``unknown`` job. Functions run inside the store's transaction, like ``store.jobs``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from modemd.model import DeliveryOutcome, DeliveryReport, EventType, Job, JobState, SentPart
from modemd.store import dialect
from modemd.store import transitions as jobs  # the state door, not store.jobs (no circle)
from modemd.store.batches import urgent
from modemd.store.db import replayable


@dataclass(frozen=True, slots=True)
class ReportResult:
    job: Job | None  # the job the report matched, after the update; None when unmatched
    outcome: DeliveryOutcome
    # Unmatched, but a job to that recipient is being sent on that device: its parts are
    # recorded when the last one is accepted, and this early report is adopted then.
    awaits: str | None = None


_JOB_COLUMNS = jobs.job_columns("j")  # the matched part's job, read with it
# A report's candidates: the parts awaiting a report sent with its reference on its device in
# the window, newest first, each with its job.
_MATCH = (
    f"SELECT p.part, {_JOB_COLUMNS} FROM job_parts p JOIN jobs j USING (job_id) "
    "WHERE p.device_id = ? AND p.mr = ? AND p.sent_at >= ? "
    "AND p.state IN ('sent', 'pending') ORDER BY p.sent_at DESC"
)
_LATEST = f"{_MATCH} LIMIT 1"

# When this process last stored an unmatched report, per device (SQLite: one process writes
# the reports of a file's devices): a part recorded on a device with none stored since its
# job's claim, nor before this process started, has no early report to adopt, and is recorded
# without the probe (``adopt_early_reports``). A write rolled back leaves its mark: one probe
# more, never one less.
_UNMATCHED_AT: dict[str, float] = {}
_WATCHING_SINCE = time.time()


@urgent
@replayable
def apply_report(db: sqlite_utils.Database, device_id: str, report: DeliveryReport) -> ReportResult:
    """Correlate a delivery report with the most recent matching part and move its job."""
    now = time.time()
    mr, outcome = report.reference, report.outcome
    digits = report.recipient.lstrip("+")
    window = [device_id, mr, now - jobs.REPORT_WINDOW_S]
    # The latest part awaiting a report with that reference, first: nearly always the one.
    # (Without LIMIT 1 sqlite3 looks for a second row: as the TP-MR wraps at 256, each report
    # read every part the modem sent with that reference in the window, and its state.)
    match = latest = db.conn.execute(_LATEST, window).fetchone()
    if latest is not None and latest[4].lstrip("+") != digits:  # j.to_number
        # Prefer a part whose recipient matches; reports can garble the address, so fall back.
        candidates = db.conn.execute(_MATCH, window)
        match = next((c for c in candidates if c[4].lstrip("+") == digits), latest)
    part, job = (None, None) if match is None else (match[0], jobs.job_from_tuple(match[1:]))
    stored = db.conn.execute(  # a plain INSERT: sqlite-utils' asks sqlite_master twice per row
        "INSERT INTO status_reports (device_id, mr, recipient, outcome, detail, tp_status, "
        "job_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            device_id,
            mr,
            report.recipient,
            outcome._value_,  # (the plain str: ``.value`` is a property, ~1,600 instructions)
            report.detail,
            report.network_status,
            None if job is None else job.job_id,
            now,
        ],
    )
    if job is None:
        _UNMATCHED_AT[device_id] = now
        # A job being sent to that number on that device is what an unmatched report is about
        # first: its record has not committed yet (an early report, adopted when it does). Only
        # without one may the report settle an ``unknown`` job (else a job never sent would be
        # "delivered" by the report of the next send to the same number: seen after a kill -9).
        sending = _sending(db, device_id, digits)
        if sending is not None:
            return ReportResult(None, outcome, sending)
        settled = settle_unknown_by_report(db, device_id, digits, report, stored.lastrowid)
        return ReportResult(settled, outcome)
    db.conn.execute(
        "UPDATE job_parts SET state = ?, tp_status = ?, report_at = ? "
        "WHERE job_id = ? AND part = ?",
        [outcome._value_, report.network_status, now, job.job_id, part],
    )
    return ReportResult(_judge(db, job, report), outcome)


def _sending(db: sqlite_utils.Database, device_id: str, digits: str) -> str | None:
    """The job being sent on ``device_id`` to that number, if any (a multipart job whose first
    parts' reports come before its last part is accepted)."""
    for row in db.execute(
        "SELECT job_id, to_number FROM jobs WHERE state = 'sending' AND device_id = ?", [device_id]
    ):
        if row[1].lstrip("+") == digits:
            return str(row[0])
    return None


def _judge(db: sqlite_utils.Database, job: Job, report: DeliveryReport) -> Job:
    """After a part's report: failed if any part failed, delivered once every part is."""
    if job.state not in (JobState.SENT, JobState.EXPIRED):
        return job  # still sending: mark_sent judges once every part is recorded
    states = (  # a single part has just been given this report's outcome
        [report.outcome._value_]
        if job.parts == 1
        else [
            r[0] for r in db.execute("SELECT state FROM job_parts WHERE job_id = ?", [job.job_id])
        ]
    )
    data = {"tp_status": report.network_status, "message_reference": report.reference}
    if "failed" in states:
        return _settle(db, job, DeliveryOutcome.FAILED, report, data)
    if len(states) == job.parts and all(s == "delivered" for s in states):
        return _settle(db, job, DeliveryOutcome.DELIVERED, report, data)
    return job


def adopt_early_reports(
    db: sqlite_utils.Database, job: Job, parts: list[SentPart], *, since: float
) -> Job:
    """Reports that came before their part was recorded (part 1's report while part 2 was
    still being sent; a fast SMSC) were stored unmatched: match them now. One probe of the
    unmatched reports' index (migration 018) for all the parts: nearly always it finds none."""
    latest = _UNMATCHED_AT.get(job.device_id or "", 0.0)
    # Hosts sharing a database (PostgreSQL): another may have stored one.
    if since > _WATCHING_SINCE and latest < since and not dialect.is_postgres(db):
        return job
    mrs = sorted({part.mr for part in parts})
    rows = db.conn.execute(
        "SELECT report_id, mr, recipient, outcome, detail, tp_status FROM status_reports "
        f"WHERE job_id IS NULL AND device_id = ? AND mr IN ({', '.join('?' * len(mrs))}) "
        "AND received_at >= ? ORDER BY report_id",
        [job.device_id, *mrs, since],
    ).fetchall()
    if not rows:
        return job
    digits = job.to.lstrip("+")
    last: DeliveryReport | None = None
    for part in parts:
        mine = [r for r in rows if r[1] == part.mr]
        row = next((r for r in mine if r[2].lstrip("+") == digits), mine[0] if mine else None)
        if row is None:
            continue
        rows.remove(row)  # two parts with one TP-MR (it wraps at 256) take two reports
        report = DeliveryReport(part.mr, row[2], DeliveryOutcome(row[3]), row[4], row[5])
        db.conn.execute(
            "UPDATE status_reports SET job_id = ? WHERE report_id = ?", [job.job_id, row[0]]
        )
        db.conn.execute(  # the outcome as stored: the plain str (``.value`` is a property)
            "UPDATE job_parts SET state = ?, tp_status = ?, report_at = ? "
            "WHERE job_id = ? AND part = ?",
            [row[3], report.network_status, time.time(), job.job_id, part.part],
        )
        last = report
    return job if last is None else _judge(db, job, last)


def _settle(
    db: sqlite_utils.Database,
    job: Job,
    outcome: DeliveryOutcome,
    report: DeliveryReport,
    data: dict[str, Any],
) -> Job:
    """The final verdict of delivery reports: delivered, or failed with the report's detail."""
    if outcome is DeliveryOutcome.DELIVERED:
        return jobs.move_job(
            db, job, JobState.DELIVERED, event=EventType.SMS_DELIVERED, event_data=data
        )
    error = report.detail
    return jobs.move_job(
        db,
        job,
        JobState.FAILED,
        event=EventType.SMS_FAILED,
        event_data={**data, "error": f"status report: {error}"},
        error=error,
    )


def settle_unknown_by_report(
    db: sqlite_utils.Database,
    device_id: str,
    digits: str,
    report: DeliveryReport,
    report_id: int | None,
) -> Job | None:
    """A report matching no recorded part may still be about an ``unknown`` job: one whose
    +CMGS answer was lost (crash, unplug, timeout) on this device, to this recipient. With
    exactly one such single-part job in the window, the report settles it; otherwise (none,
    several, multipart) it stays unknown. Never a resend."""
    if report.outcome is DeliveryOutcome.PENDING:
        return None
    candidates = [
        row["job_id"]
        for row in db.query(
            "SELECT job_id, to_number FROM jobs WHERE state = 'unknown' AND device_id = ? "
            "AND parts = 1 AND updated_at >= ?",
            [device_id, time.time() - jobs.REPORT_WINDOW_S],
        )
        if row["to_number"].lstrip("+") == digits
    ]
    if len(candidates) != 1:
        return None
    job = jobs.get_job(db, candidates[0])
    assert job is not None
    db.execute("UPDATE status_reports SET job_id = ? WHERE report_id = ?", [job.job_id, report_id])
    data = {"tp_status": report.network_status, "settled_from": "unknown"}
    return _settle(db, job, report.outcome, report, data)
