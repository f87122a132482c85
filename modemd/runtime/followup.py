"""While a backlog waits, a device goes from one send to the next without waiting for a commit.

The write that records a send also claims the device's next jobs
(``store.dispatch.record_sent_and_claim``). A device holds at most ``CLAIMED_AHEAD`` + 1 such
jobs: the one it sends next and, from the high lane, one ahead. When a send ends and the next
job is already claimed, the device starts it at once and the record of the send just ended
(with the claim of the job after) commits during the new send: one commit per send, off the
path between two sends. Every job is still claimed in a commit that precedes its ``AT+CMGS``.

Only high-lane jobs are claimed ahead: a bulk job claimed one send early would keep a high-lane
job that comes meanwhile waiting one more send. Nothing is claimed when something must come
between two sends (a pacing gap, a cap to look up, the device's own rate limit)."""

from __future__ import annotations

import asyncio
import logging

from modemd.caps import NO_CAPS, Caps
from modemd.drivers.base import SmsDevice
from modemd.model import Job, Lane, Pacing, SentPart
from modemd.runtime.pool import PoolQueue
from modemd.store import dispatch as dispatch_rows
from modemd.store import jobs as job_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

CLAIMED_AHEAD = 1  # high-lane jobs a device holds claimed beyond the one it sends next


def next_jobs(
    pool: PoolQueue, device: SmsDevice, pacing: Pacing, held: int, pool_caps: Caps = NO_CAPS
) -> list[Job]:
    """The jobs to claim with the record of a send, taken from the pool: the device's next one
    when it ``held`` none, then high-lane ones until it holds ``CLAIMED_AHEAD`` + 1; none when
    something has to come between two sends (a pacing gap, a daily or monthly cap to look up,
    the SIM's or the pool's, the device's own rate limit)."""
    if pacing.min_gap_s > 0 or pacing.daily_cap is not None or pacing.monthly_cap is not None:
        return []
    if pool_caps.any or device.ready_in_s() > 0:
        return []
    device_id = device.info.device_id
    taken: list[Job] = []
    if held == 0:
        first = pool.take_nowait(device_id)
        if first is None:
            return taken
        taken.append(first)
    while held + len(taken) <= CLAIMED_AHEAD:
        ahead = pool.take_nowait(device_id, only=Lane.HIGH)
        if ahead is None:
            break
        taken.append(ahead)
    return taken


async def record_and_claim(
    store: Store,
    pool: PoolQueue,
    job: Job,
    parts: list[SentPart],
    signal: int | None,
    nxt: list[Job],
    *,
    busy: bool = False,
) -> list[Job]:
    """Record ``job`` sent and claim ``nxt`` in one commit (``busy``: the device goes on with
    a job it holds already); the claimed jobs, in order (those no longer queued are left out).
    A failed write gives ``nxt`` back to the pool, first in line; a shutdown during the write
    puts the claimed ones back in the queue (nothing of them was sent)."""
    write = asyncio.ensure_future(
        store.write(
            dispatch_rows.record_sent_and_claim,
            job,
            parts,
            signal,
            [n.job_id for n in nxt],
            busy=busy,
        )
    )
    try:
        _, claimed = await asyncio.shield(write)
    except asyncio.CancelledError:
        _, claimed = await write
        for one in reversed(claimed):  # back in the database and in the pool, first in line
            requeued = await store.write(job_rows.requeue, one, "stopped before sending")
            pool.put(requeued, front=True)
        raise
    except BaseException:
        for one in reversed(nxt):
            pool.put(one, front=True)
        raise
    kept = {one.job_id for one in claimed}
    for one in nxt:
        if one.job_id not in kept:
            log.warning("job %s was no longer queued; skipped", one.job_id)
    return claimed
