"""Sent jobs whose status report never came: ``expired`` after the report window."""

from __future__ import annotations

import asyncio
import logging
import time

from modemd.store import jobs as job_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

EXPIRY_SWEEP_S = 600.0  # the window is 72 h: checking every 10 min keeps expiry within 0.3 %


async def expire_forever(store: Store, interval_s: float = EXPIRY_SWEEP_S) -> None:
    """Expire overdue jobs now, then every ``interval_s``, until cancelled."""
    while True:
        expired = await store.write(job_rows.expire_unreported, time.time())
        for job in expired:
            log.warning(
                "job %s: no status report from %s within the window: expired",
                job.job_id,
                job.device_id,
            )
        await asyncio.sleep(interval_s)
