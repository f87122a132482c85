"""Status reports -> jobs: correlation by (device, TP-MR, recipient) within the report window,
multipart verdicts, reports that come before their part is recorded, and reports that settle an
``unknown`` job. Functions run inside the store's transaction, like ``store.jobs``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from modemd.model import EventType, Job, JobState, SentPart
from modemd.sms.status import ReportOutcome, classify_tp_status
from modemd.store import jobs


@dataclass(frozen=True, slots=True)
class ReportResult:
    job: Job | None  # the job the report matched, after the update; None when unmatched
    outcome: ReportOutcome


def apply_report(
    db: sqlite_utils.Database,
    device_id: str,
    mr: int,
    recipient: str,
    tp_status: int,
    outcome: ReportOutcome,
) -> ReportResult:
    """Correlate a status report with the most recent matching part and move its job."""
    now = time.time()
    digits = recipient.lstrip("+")
    candidates = list(
        db.query(
            "SELECT p.job_id, p.part, j.to_number FROM job_parts p JOIN jobs j USING (job_id) "
            "WHERE p.device_id = ? AND p.mr = ? AND p.sent_at >= ? "
            "AND p.state IN ('sent', 'pending') ORDER BY p.sent_at DESC",
            [device_id, mr, now - jobs.REPORT_WINDOW_S],
        )
    )
    # Prefer a part whose recipient matches; reports can garble the address, so fall back.
    match = next((c for c in candidates if c["to_number"].lstrip("+") == digits), None)
    if match is None and candidates:
        match = candidates[0]
    db.table("status_reports").insert(
        {
            "device_id": device_id,
            "mr": mr,
            "recipient": recipient,
            "tp_status": tp_status,
            "job_id": match["job_id"] if match else None,
            "received_at": now,
        }
    )
    if match is None:
        return ReportResult(
            settle_unknown_by_report(db, device_id, digits, tp_status, outcome), outcome
        )
    db.execute(
        "UPDATE job_parts SET state = ?, tp_status = ?, report_at = ? "
        "WHERE job_id = ? AND part = ?",
        [outcome.value, tp_status, now, match["job_id"], match["part"]],
    )
    job = jobs.get_job(db, match["job_id"])
    assert job is not None
    return ReportResult(_judge(db, job, tp_status, mr), outcome)


def _judge(db: sqlite_utils.Database, job: Job, tp_status: int, mr: int) -> Job:
    """After a part's report: failed if any part failed, delivered once every part is."""
    if job.state not in (JobState.SENT, JobState.EXPIRED):
        return job  # still sending: mark_sent judges once every part is recorded
    states = [
        row[0] for row in db.execute("SELECT state FROM job_parts WHERE job_id = ?", [job.job_id])
    ]
    data = {"tp_status": tp_status, "message_reference": mr}
    if "failed" in states:
        return _settle(db, job, ReportOutcome.FAILED, tp_status, data)
    if len(states) == job.parts and all(s == "delivered" for s in states):
        return _settle(db, job, ReportOutcome.DELIVERED, tp_status, data)
    return job


def adopt_early_reports(
    db: sqlite_utils.Database, job: Job, parts: list[SentPart], *, since: float
) -> Job:
    """Reports that came before their part was recorded (part 1's report while part 2 was
    still being sent; a fast SMSC) were stored unmatched: match them now."""
    last: tuple[int, int] | None = None
    for part in parts:
        rows = list(
            db.query(
                "SELECT report_id, recipient, tp_status FROM status_reports WHERE job_id IS NULL "
                "AND device_id = ? AND mr = ? AND received_at >= ? ORDER BY report_id",
                [job.device_id, part.mr, since],
            )
        )
        row = next((r for r in rows if r["recipient"].lstrip("+") == job.to.lstrip("+")), None)
        if row is None and rows:
            row = rows[0]
        if row is None:
            continue
        outcome = classify_tp_status(row["tp_status"])
        db.execute(
            "UPDATE status_reports SET job_id = ? WHERE report_id = ?",
            [job.job_id, row["report_id"]],
        )
        db.execute(
            "UPDATE job_parts SET state = ?, tp_status = ?, report_at = ? "
            "WHERE job_id = ? AND part = ?",
            [outcome.value, row["tp_status"], time.time(), job.job_id, part.part],
        )
        last = (row["tp_status"], part.mr)
    return job if last is None else _judge(db, job, *last)


def _settle(
    db: sqlite_utils.Database,
    job: Job,
    outcome: ReportOutcome,
    tp_status: int,
    data: dict[str, Any],
) -> Job:
    """The final verdict of status reports: delivered, or failed with the TP-Status."""
    if outcome is ReportOutcome.DELIVERED:
        return jobs.move_job(
            db, job, JobState.DELIVERED, event=EventType.SMS_DELIVERED, event_data=data
        )
    error = f"TP-Status 0x{tp_status:02X}"
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
    tp_status: int,
    outcome: ReportOutcome,
) -> Job | None:
    """A report matching no recorded part may still be about an ``unknown`` job: one whose
    +CMGS answer was lost (crash, unplug, timeout) on this device, to this recipient. With
    exactly one such single-part job in the window, the report settles it; otherwise (none,
    several, multipart) it stays unknown. Never a resend."""
    if outcome is ReportOutcome.PENDING:
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
    db.execute(
        "UPDATE status_reports SET job_id = ? WHERE report_id = last_insert_rowid()", [job.job_id]
    )
    return _settle(db, job, outcome, tp_status, {"tp_status": tp_status, "settled_from": "unknown"})
