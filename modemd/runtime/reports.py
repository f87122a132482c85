"""A status report from a device into the store, and what the sysadmin is told of it."""

from __future__ import annotations

import asyncio
import logging

from modemd.model import DeliveryOutcome, DeliveryReport
from modemd.store import reports as report_rows
from modemd.store.db import Store
from modemd.store.reports import ReportResult

log = logging.getLogger("modemd.runtime.bank")  # the lines keep the bank's logger name


def apply_report(
    store: Store, device_id: str, report: DeliveryReport
) -> asyncio.Future[ReportResult]:
    """Store ``report`` (matched to its sent part, or kept for one not recorded yet): the write,
    queued now; its future resolves once committed. What the sysadmin is told follows from a
    callback on it: no task per report (``bench.loopcount``)."""
    written = store.queue_write(report_rows.apply_report, device_id, report)
    written.add_done_callback(lambda done: _tell(done, device_id, report))
    return written


def _tell(written: asyncio.Future[ReportResult], device_id: str, report: DeliveryReport) -> None:
    if written.cancelled():
        return
    if (exc := written.exception()) is not None:  # also raised to the driver, if it awaits
        log.error("%s: status report MR %d not stored: %s", device_id, report.reference, exc)
        return
    result = written.result()
    if result.job is None and result.awaits is not None:
        log.info(
            "%s: status report MR %d came before job %s recorded its parts; kept for it",
            device_id,
            report.reference,
            result.awaits,
        )
    elif result.job is None:
        log.warning(
            "%s: status report MR %d for %s (%s) matches no sent part; stored",
            device_id,
            report.reference,
            report.recipient,
            report.detail,
        )
    elif report.outcome is DeliveryOutcome.PENDING:
        log.info("job %s: SC still trying (%s)", result.job.job_id, report.detail)
