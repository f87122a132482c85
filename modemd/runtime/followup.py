"""While a backlog waits, a device goes from one send to the next on one commit: the write that
records a send also claims the device's next job (``store.dispatch.record_sent_and_claim``),
so the next ``AT+CMGS`` waits for one commit instead of two in series."""

from __future__ import annotations

import asyncio
import logging

from modemd.caps import NO_CAPS, Caps
from modemd.drivers.base import SmsDevice
from modemd.model import Job, Pacing, SentPart
from modemd.runtime.pool import PoolQueue
from modemd.store import dispatch as dispatch_rows
from modemd.store import jobs as job_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)


def next_job_now(
    pool: PoolQueue, device: SmsDevice, pacing: Pacing, pool_caps: Caps = NO_CAPS
) -> Job | None:
    """The device's next job, if one waits and nothing has to come between the two sends:
    a pacing gap, a daily or monthly cap to look up (the SIM's or the pool's), the device's
    own rate limit."""
    if pacing.min_gap_s > 0 or pacing.daily_cap is not None or pacing.monthly_cap is not None:
        return None
    if pool_caps.any:
        return None
    if device.ready_in_s() > 0:
        return None
    return pool.take_nowait(device.info.device_id)


async def record_and_claim(
    store: Store, pool: PoolQueue, job: Job, parts: list[SentPart], signal: int | None, nxt: Job
) -> Job | None:
    """Record ``job`` sent and claim ``nxt`` in one commit; the claimed job, or None when it
    was no longer queued. A failed write gives ``nxt`` back to the pool, first in line; a
    shutdown during the write puts a claimed ``nxt`` back in the queue (nothing was sent)."""
    write = asyncio.ensure_future(
        store.write(dispatch_rows.record_sent_and_claim, job, parts, signal, nxt.job_id)
    )
    try:
        _, claimed = await asyncio.shield(write)
    except asyncio.CancelledError:
        _, claimed = await write
        if claimed is not None:
            await store.write(job_rows.requeue, claimed, "stopped before sending")
        raise
    except BaseException:
        pool.put(nxt, front=True)
        raise
    if claimed is None:
        log.warning("job %s was no longer queued; skipped", nxt.job_id)
    return claimed
