"""What became of a send, written down: sent (claiming the device's next jobs in the same commit
while a backlog waits, see ``runtime.followup``), back in the queue (provably nothing went
out), failed, or unknown; and the submit log (``store.submits``) told each claim and each
settled job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from modemd import caps
from modemd.caps import NO_CAPS, Caps, Reached
from modemd.errors import SendError, StoreError
from modemd.model import Job, JobState, SentPart
from modemd.runtime.pool import PoolQueue
from modemd.store import devices as device_rows
from modemd.store import dispatch as dispatch_rows
from modemd.store import jobs as job_rows
from modemd.store.db import Store
from modemd.store.submits import SubmitLog

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 3  # tries of one job (each provably sent nothing) before it is failed
STOPPED_BEFORE = "stopped before sending"  # why a claimed job went back to the queue


async def recover_interrupted(store: Store, submits: SubmitLog) -> None:
    """At start-up: each job the last run left ``sending`` goes back to the queue when its
    submit log proves it never reached the device, else it is unknown; then this run's log
    begins."""
    never_written = submits.never_written()
    for job in await store.write(job_rows.recover_interrupted, store.host_id, never_written):
        if job.state is JobState.QUEUED:
            log.info("job %s was claimed but not yet sent when modemd stopped: queued", job.job_id)
        else:
            log.warning("job %s was being sent when modemd stopped: outcome unknown", job.job_id)
    submits.start()


async def to_the_end(work: Coroutine[object, object, None]) -> None:
    """Run ``work`` to its end even if the caller is cancelled again meanwhile (the caller,
    already handling a cancellation, raises it afterwards)."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            await asyncio.shield(task)
            return
        except asyncio.CancelledError:
            if task.cancelled():
                raise


class OutcomeRecorder:
    """Records the sends of one device's pool."""

    def __init__(self, store: Store, pool: PoolQueue, submits: SubmitLog) -> None:
        self.store = store
        self.pool = pool
        self.submits = submits

    async def claim(
        self, job: Job, device_id: str, signal: int | None, pool_caps: Caps = NO_CAPS
    ) -> Job | Reached | None:
        """Claim ``job`` for ``device_id`` (within the pool's caps, counting its sends in
        flight: when they stop it, ``job`` goes back to the pool and the cap is returned); a
        shutdown during the claim (or the device unplugged: the bank cancels an idle worker)
        puts it back in line. A job handed over still claimed by another device of the pool
        (``PoolQueue.hand``) is taken over in one write (its cap already counts it)."""
        claim: asyncio.Future[Job | Reached | None]
        if job.state is JobState.SENDING:  # its claim line is in the submit log already
            claim = self.store.queue_write(dispatch_rows.take_over, job, device_id, signal)
        elif not pool_caps.any:
            self.submits.claim(job.job_id)
            claim = self.store.queue_write(
                dispatch_rows.claim_for, job.job_id, device_id, signal, job
            )
        else:
            self.submits.claim(job.job_id)
            claim = self.store.queue_write(
                dispatch_rows.claim_within_cap,
                *(job.job_id, device_id, signal, self.pool.pin, pool_caps, caps.window(), job),
            )
        try:
            claimed = await asyncio.shield(claim)
        except asyncio.CancelledError:
            # Seen to the end through a second cancellation (a stop's drain cancels an idle
            # worker, then its close cancels again what still runs): else the claim commits,
            # the job is never put back and stays ``sending``, though nothing was sent.
            await to_the_end(self._put_back(claim))
            raise
        if not isinstance(claimed, Job):
            self.submits.settled(job.job_id)
        if isinstance(claimed, Reached):
            self.pool.put(job, front=True)
        return claimed

    async def give_up(self, handed: Job) -> None:
        """A job handed over still claimed (``PoolQueue.hand``) to a worker cancelled before it
        took the claim over: back in the queue, seen to the end through further
        cancellations (the caller raises its own afterwards)."""
        await to_the_end(self.requeue(handed, STOPPED_BEFORE, untried=True))

    async def _put_back(self, claim: Awaitable[Job | Reached | None]) -> None:
        """A claim whose worker was cancelled: once written, the job claimed goes back in the
        queue (claimed but nothing sent: not an unknown outcome)."""
        claimed = await claim
        if isinstance(claimed, Job):
            await self.requeue(claimed, STOPPED_BEFORE, untried=True)

    def queue_sent(
        self,
        job: Job,
        parts: list[SentPart],
        signal: int | None,
        nxt: list[Job],
        *,
        busy: bool = False,
    ) -> asyncio.Future[tuple[Job, list[Job]]]:
        """Queue the write that records ``job`` sent and claims ``nxt`` (the device's next
        jobs) in the same commit; the device is ready again, or busy when it got a job or goes
        on with one it holds (``busy``). Its future, for ``sent_written``, committed or not:
        nothing cancels a store's write once queued."""
        for one in nxt:
            self.submits.claim(one.job_id)
        return self.store.queue_write(
            dispatch_rows.record_sent_and_claim, *(job, parts, signal, nxt), busy=busy
        )

    def sent_written(
        self, job: Job, parts: list[SentPart], nxt: list[Job], write: asyncio.Future[Any]
    ) -> list[Job]:
        """``queue_sent``'s write done: the claimed jobs, in order (one no longer queued is
        left out). A failed write gives ``nxt`` back to the pool, first in line, and raises."""
        claimed: list[Job] = []
        try:
            _, claimed = write.result()
        except BaseException as exc:
            for one in reversed(nxt):
                self.pool.put(one, front=True)
            if isinstance(exc, StoreError):
                log.exception("job %s sent (MR %s) but not recorded", job.job_id, parts)
            raise
        finally:
            self.submits.settled(job.job_id)
            if len(claimed) != len(nxt):  # (nearly always each was claimed)
                kept = {one.job_id for one in claimed}
                for one in nxt:
                    if one.job_id not in kept:
                        self.submits.settled(one.job_id)
        if len(claimed) != len(nxt):
            for one in nxt:
                if one.job_id not in kept:
                    log.warning("job %s was no longer queued; skipped", one.job_id)
        mrs = ",".join([str(p.mr) for p in parts])
        log.info("job %s sent by %s (MR %s)", job.job_id, job.device_id, mrs)
        return claimed

    async def requeue(self, job: Job, why: str, *, untried: bool = False) -> None:
        """Nothing of ``job`` went out: back in the queue, in the database and in the pool
        (first in line; else the pool's other devices never see it until a restart).
        ``untried``: its device never began it (the claim's attempt is taken back). The job
        joins the pool when the write commits, whether or not the caller still waits: a
        worker cancelled meanwhile (its device unplugged as it gave back its claimed jobs)
        left it queued on disk and in no pool, so no device took it until a restart."""
        write = self.store.queue_write(job_rows.requeue, job, why, untried=untried)
        write.add_done_callback(self._requeued)
        await asyncio.shield(write)

    def _requeued(self, write: asyncio.Future[Job]) -> None:
        """``requeue``'s write done: when it committed, the job is first in the pool's line
        (its error, if any, is the waiting caller's)."""
        if write.cancelled() or write.exception() is not None:
            return
        requeued = write.result()
        self.submits.settled(requeued.job_id)
        self.pool.put(requeued, front=True)

    async def stopped(self, job: Job) -> None:
        """A shutdown in the middle of ``job``'s send: back in the queue when nothing of it
        reached the device, else unknown (the modem may finish alone: never resent)."""
        if self.submits.submitted(job.job_id):
            await self.store.write(job_rows.mark_unknown, job, "stopped while sending")
            self.submits.settled(job.job_id)
        else:
            await self.requeue(job, STOPPED_BEFORE, untried=True)

    async def failure(self, device_id: str, job: Job, exc: SendError) -> None:
        """A send that raised: unknown when the modem may have it, back in the queue when it
        is transient and tries remain, else failed."""
        await self.store.write(device_rows.note_error, device_id, str(exc))
        if not exc.outcome_known:
            log.warning("job %s: outcome unknown on %s: %s", job.job_id, device_id, exc)
            await self.store.write(job_rows.mark_unknown, job, str(exc))
        elif (
            exc.transient
            and (await self.store.read(job_rows.attempts, job.job_id)) < MAX_SEND_ATTEMPTS
        ):
            log.info("job %s: not sent on %s (%s); back in the queue", job.job_id, device_id, exc)
            await self.requeue(job, str(exc))
            return
        else:
            log.warning("job %s failed on %s: %s", job.job_id, device_id, exc)
            await self.store.write(job_rows.mark_failed, job, str(exc), exc.code)
        self.submits.settled(job.job_id)
