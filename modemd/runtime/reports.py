"""A status report from a device into the store, and what the sysadmin is told of it."""

from __future__ import annotations

import logging

from modemd.model import DeliveryOutcome, DeliveryReport
from modemd.store import reports as report_rows
from modemd.store.db import Store

log = logging.getLogger("modemd.runtime.bank")  # the lines keep the bank's logger name


async def apply_report(store: Store, device_id: str, report: DeliveryReport) -> None:
    """Store ``report`` (matched to its sent part, or kept for one not recorded yet)."""
    result = await store.write(report_rows.apply_report, device_id, report)
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
