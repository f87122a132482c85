"""What became of a send, written down: sent (claiming the device's next job in the same commit
while a backlog waits), back in the queue (provably nothing went out), failed, or unknown."""

from __future__ import annotations

import logging

from modemd.errors import SendError, StoreError
from modemd.model import Job, SentPart
from modemd.runtime import followup
from modemd.runtime.pool import PoolQueue
from modemd.store import devices as device_rows
from modemd.store import dispatch as dispatch_rows
from modemd.store import jobs as job_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 3  # tries of one job (each provably sent nothing) before it is failed


async def record_sent(
    store: Store,
    pool: PoolQueue,
    job: Job,
    parts: list[SentPart],
    signal: int | None,
    nxt: Job | None,
) -> Job | None:
    """Record ``job`` sent (the device ready again) and, when ``nxt`` waits, claim it in the
    same commit; the claimed next job, or None."""
    try:
        if nxt is None:
            await store.write(dispatch_rows.record_sent, job, parts, signal)
            claimed = None
        else:
            claimed = await followup.record_and_claim(store, pool, job, parts, signal, nxt)
    except StoreError:
        log.exception("job %s sent (MR %s) but not recorded", job.job_id, parts)
        raise
    log.info(
        "job %s sent by %s (MR %s)", job.job_id, job.device_id, ",".join(str(p.mr) for p in parts)
    )
    return claimed


async def requeue(store: Store, pool: PoolQueue, job: Job, why: str) -> None:
    """Nothing of ``job`` went out: back in the queue, in the database and in the pool (first
    in line; else the pool's other devices never see it until a restart)."""
    requeued = await store.write(job_rows.requeue, job, why)
    pool.put(requeued, front=True)


async def record_failure(
    store: Store, pool: PoolQueue, device_id: str, job: Job, exc: SendError
) -> None:
    """A send that raised: unknown when the modem may have it, back in the queue when it is
    transient and tries remain, else failed."""
    await store.write(device_rows.note_error, device_id, str(exc))
    if not exc.outcome_known:
        log.warning("job %s: outcome unknown on %s: %s", job.job_id, device_id, exc)
        await store.write(job_rows.mark_unknown, job, str(exc))
    elif exc.transient and (await store.read(job_rows.attempts, job.job_id)) < MAX_SEND_ATTEMPTS:
        log.info("job %s: not sent on %s (%s); back in the queue", job.job_id, device_id, exc)
        await requeue(store, pool, job, str(exc))
    else:
        log.warning("job %s failed on %s: %s", job.job_id, device_id, exc)
        await store.write(job_rows.mark_failed, job, str(exc), exc.code)
