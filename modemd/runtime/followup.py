"""While a backlog waits, a device goes from one send to the next without waiting for a commit.

The write that records a send also claims the device's next jobs
(``store.dispatch.record_sent_and_claim``). A device holds at most ``CLAIMED_AHEAD`` + 1 such
jobs: the one it sends next and, from the high lane, one ahead. A device that starts a
send holding nothing claims its next job (high lane) during that send, from the pool then or,
when there was none, the first put meanwhile that no idle device takes (``PoolQueue.claimers``).
When a send ends and the next job is already claimed, the device starts it at once and the
record of the send just ended (with the claim of the job after) commits during the new send:
one commit per send, off the path between two sends. Every job is still claimed in a commit
that precedes its ``AT+CMGS``.

Only high-lane jobs are claimed ahead: a bulk job claimed one send early would keep a high-lane
job that comes meanwhile waiting one more send. Nothing is claimed when something must come
between two sends (a pacing gap, a cap to look up, the device's own rate limit).

At the end of a backlog another device of the pool may go idle while this one sends with jobs
claimed ahead: the last of them leaves this line and is handed, still claimed, to the idle
device (``PoolQueue.hand``), which takes the claim over in one commit before its ``AT+CMGS``
(``store.dispatch.take_over``: the job is claimed by exactly one of them at every moment, and
never queued in between). A job is in one device's line at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from modemd.caps import NO_CAPS, Caps
from modemd.drivers.base import SmsDevice
from modemd.errors import StoreError
from modemd.model import Job, Lane, Pacing, SentPart
from modemd.runtime.outcome import STOPPED_BEFORE, OutcomeRecorder
from modemd.runtime.pool import PoolQueue

log = logging.getLogger(__name__)

CLAIMED_AHEAD = 1  # high-lane jobs a device holds claimed beyond the one it sends next


def next_jobs(
    pool: PoolQueue, device: SmsDevice, pacing: Pacing, held: int, pool_caps: Caps = NO_CAPS
) -> list[Job]:
    """The jobs to claim with the record of a send, taken from the pool: the device's next one
    when it ``held`` none, then high-lane ones until it holds ``CLAIMED_AHEAD`` + 1; none when
    something has to come between two sends (a pacing gap, a daily or monthly cap to look up,
    the SIM's or the pool's, the device's own rate limit)."""
    if not claims_ahead(device, pacing, pool_caps):
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


def claims_ahead(device: SmsDevice, pacing: Pacing, pool_caps: Caps) -> bool:
    """Whether ``device`` may claim its next jobs before its send ends: nothing has to come
    between two sends (a pacing gap, a daily or monthly cap to look up, the SIM's or the
    pool's, the device's own rate limit)."""
    if pacing.min_gap_s > 0 or pacing.daily_cap is not None or pacing.monthly_cap is not None:
        return False
    return not pool_caps.any and device.ready_in_s() <= 0


class ClaimedLine:
    """The jobs one device holds claimed (in order) and the record in flight that claims more."""

    def __init__(self, outcomes: OutcomeRecorder, pool: PoolQueue, device_id: str) -> None:
        self.outcomes = outcomes
        self.pool = pool
        self.device_id = device_id
        self.jobs: deque[Job] = deque()  # claimed with a send's record, not sent yet
        # The last send's record in flight (``record_sent``: its write, or its own future when
        # queued behind the record before), or the claim ahead's task
        self.record: asyncio.Future[Any] | None = None
        self.asked = 0  # jobs the records in flight are claiming
        self._joined = False  # its device runs: what it holds is offered to idle ones
        self._give = self.give_back  # its key in the pool's ``givers`` (one bound method)

    def join(self) -> None:
        """Offer the jobs held here to the pool's devices that go idle (``PoolQueue.givers``)."""
        self._joined = True
        self._listed()

    def leave(self) -> None:
        self._joined = False
        self._listed()

    def _listed(self) -> None:
        """In the pool's ``givers`` while it holds a job (and its device runs), else out: a
        device going idle asks only those that hold one (asking every device of the pool,
        each as it first waited, made 32,896 calls at 256 devices)."""
        if self._joined and self.jobs:
            self.pool.givers[self._give] = None
        else:
            self.pool.givers.pop(self._give, None)

    def give_back(self, device_id: str) -> bool:
        """``device_id`` of the pool would wait idle: the last job held here that it may send
        is handed to it still claimed (it takes the claim over in one commit). False when
        there is none, or that device no longer waits."""
        for job in reversed(self.jobs):
            if job.id_device in (None, device_id):
                if not self.pool.hand(job, device_id):
                    return False
                self.jobs.remove(job)  # in the same step: this device never starts it
                self._listed()
                log.debug("job %s: handed by %s to %s", job.job_id, self.device_id, device_id)
                return True
        return False

    def _offer_to_idle(self, keep: int) -> None:
        """The jobs a record just claimed beyond the first ``keep``, to the devices of the pool
        that went idle meanwhile."""
        if not self.pool.any_idle():  # a backlog's usual case: no list made
            return
        for device_id in self.pool.idle_devices(taking_claimed=True):
            if len(self.jobs) <= keep or not self.give_back(device_id):
                return

    @property
    def held(self) -> int:
        """Jobs claimed, or being claimed by a record in flight, and not started yet."""
        return len(self.jobs) + self.asked

    async def next(self) -> Job | None:
        """The next job claimed with a send's record (waiting for that record's commit when
        it is the one that claims it), or None."""
        if not self.jobs:
            await self.settle()
            if not self.jobs:
                return None
        return self.take()

    def take(self) -> Job:
        """The next job claimed (the caller saw ``jobs`` hold one)."""
        jobs = self.jobs
        job = jobs.popleft()
        if not jobs:
            self.pool.givers.pop(self._give, None)
        return job

    async def settle(self) -> None:
        """Wait for the last send's record (it commits during the next send, nearly always);
        the jobs it claimed join the line. A cancelled caller leaves it in place."""
        if self.record is not None:
            await asyncio.shield(self.record)
            self.record = None

    async def release(self) -> None:
        """The jobs claimed but not to be sent here go back to the queue, in their order."""
        try:
            await self.settle()
        except StoreError:  # logged by the record; it claimed nothing
            self.record = None
        while self.jobs:  # the last first: each goes to the front of the pool's line
            job = self.jobs.pop()
            self._listed()
            await self.outcomes.requeue(job, STOPPED_BEFORE, untried=True)

    def claim_ahead(self, jobs: list[Job], signal: int | None) -> None:
        """A device starts a send holding nothing: claim ``jobs`` (from ``next_jobs``) during
        it, so that its next send does not wait for the commit of this one's record (which
        then claims the job after, as between any two sends of a backlog)."""
        if not jobs:
            return
        previous = self.record
        self.asked += len(jobs)

        async def claim() -> None:
            try:
                if previous is not None:  # a store's write, maybe: never cancelled from here
                    with contextlib.suppress(Exception):  # logged there
                        await asyncio.shield(previous)
                for job in jobs:
                    got = await self.outcomes.claim(job, self.device_id, signal)
                    if isinstance(got, Job):
                        self.jobs.append(got)
                        self._listed()
                    elif got is None:
                        log.warning("job %s was no longer queued; skipped", job.job_id)
            except StoreError:  # those not claimed stay queued: back in the pool, first in line
                log.exception("device %s: jobs not claimed ahead", self.device_id)
                for job in reversed(jobs):
                    if all(job.job_id != held.job_id for held in self.jobs):
                        self.outcomes.submits.settled(job.job_id)
                        self.pool.put(job, front=True)
            finally:
                self.asked -= len(jobs)

        self.record = asyncio.create_task(claim(), name=f"claim ahead {self.device_id}")

    def record_sent(
        self, job: Job, parts: list[SentPart], signal: int | None, nxt: list[Job]
    ) -> None:
        """Record ``job`` sent and claim ``nxt`` (from ``next_jobs``) in the background, after
        the record before it: when the next job is claimed already the device starts it at
        once while this commits. No task: the write is queued from a callback of the record
        before it (at once when that one is done, nearly always) and its answer handled in the
        write's own callback (``_Record``), which runs before anyone waiting for the record
        resumes: queued at once, the write's future is the record itself (no future of its
        own to resolve, nor a callback's hop more to the worker's wake-up)."""
        busy = self.held > 0  # it goes on with a job it holds
        self.asked += len(nxt)
        record = _Record(self, job, parts, signal, nxt, busy)
        previous = self.record
        if previous is None or previous.done():
            self.record = record.queue(previous)
        else:  # committed during this send, nearly always
            self.record = record.done = asyncio.get_running_loop().create_future()
            previous.add_done_callback(record.queue)


class _Record:
    """One send's record in flight: its write, queued once the record before it is done, and
    the jobs it claimed joining the line from the write's callback; ``done`` (when the write
    was queued behind the record before: else None, the write's future stands for it)
    resolves after (with the write's error, if any)."""

    __slots__ = ("asked", "busy", "done", "job", "line", "nxt", "parts", "signal")

    def __init__(
        self,
        line: ClaimedLine,
        job: Job,
        parts: list[SentPart],
        signal: int | None,
        nxt: list[Job],
        busy: bool,
    ) -> None:
        self.line, self.job, self.parts, self.signal = line, job, parts, signal
        self.nxt, self.asked, self.busy = nxt, len(nxt), busy
        self.done: asyncio.Future[None] | None = None

    def queue(self, previous: asyncio.Future[Any] | None) -> asyncio.Future[Any]:
        line = self.line
        if previous is not None and (previous.cancelled() or previous.exception() is not None):
            # Logged there; this send is recorded all the same, and claims nothing (its next
            # jobs go back first in line, where the failed record's went)
            for one in reversed(self.nxt):
                line.pool.put(one, front=True)
            self.nxt = []
        write = line.outcomes.queue_sent(
            self.job, self.parts, self.signal, self.nxt, busy=self.busy
        )
        write.add_done_callback(self._written)  # the first: before any waiter's
        return write

    def _written(self, write: asyncio.Future[tuple[Job, list[Job]]]) -> None:
        line = self.line
        line.asked -= self.asked
        done = self.done  # None: the write is the record (its outcome is the waiters')
        try:
            claimed = line.outcomes.sent_written(self.job, self.parts, self.nxt, write)
        except asyncio.CancelledError:
            if done is not None:
                done.cancel()
            return
        except Exception as exc:  # logged by sent_written
            if done is not None:
                done.set_exception(exc)
            return
        if claimed:
            line.jobs.extend(claimed)
            line._listed()
        # Busy: this device sends meanwhile and each job waits for that send to end; else
        # it waits for this record and starts the first at once.
        if len(line.jobs) > (keep := 0 if self.busy else 1):
            line._offer_to_idle(keep)
        if done is not None:
            done.set_result(None)
