"""A pool's waiting line: jobs in FIFO order per lane, idle devices in FIFO order.

``put`` hands a job straight to the longest-idle device that may send it, or queues it in its
lane; ``take`` returns the oldest job the device may send from the highest lane that has one,
or parks the device until one comes.
No polling: a parked device wakes the moment a job is put. Each job goes to exactly one taker.
A worker about to park first asks the pool's ``givers`` (devices holding jobs claimed ahead,
``runtime.followup``) for one of them: it is handed over still claimed (``hand``), never queued
here, and the worker takes the claim over in one commit. A high-lane job no idle device takes
goes to a device sending with nothing claimed (``claimers``): it claims the job during its send.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from modemd.model import LANE_ORDER, Job, JobState, Lane


@dataclass(slots=True)
class Waiter:
    """A device waiting for a job: ``put`` resolves ``future`` with one; ``wake`` with None."""

    device_id: str
    future: asyncio.Future[Job | None]
    # May be handed a job another device claimed (``hand``): its worker takes the claim over,
    # or puts the job back in the queue when it is cancelled first.
    takes_claimed: bool = False


@dataclass(slots=True)
class PoolQueue:
    pin: str
    _lanes: dict[Lane, deque[Job]] = field(
        default_factory=lambda: {lane: deque() for lane in LANE_ORDER}
    )
    _idle: deque[Waiter] = field(default_factory=deque)
    # Called when a device took a bulk job and fewer than ``bulk_low_water`` remain (the
    # feeder tops the lane up from the database).
    on_bulk_low: Callable[[], None] | None = None
    bulk_low_water: int = 0
    # Devices holding jobs claimed ahead, in the order they came to hold one (a dict: each
    # joins and leaves as its line fills and empties): ``give(device_id)`` hands one that
    # device may send over to its wait (``hand``) and says whether it did.
    givers: dict[Callable[[str], bool], None] = field(default_factory=dict)
    # Devices sending and holding nothing claimed (``DeviceWorker._claims_put``):
    # ``claim(job)`` claims a high-lane job put meanwhile ahead, and says whether it did.
    claimers: list[Callable[[Job], bool]] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._lanes.values())

    def waiting(self, lane: Lane) -> int:
        """Jobs waiting in ``lane``."""
        return len(self._lanes[lane])

    def job_ids(self) -> set[str]:
        return {job.job_id for jobs in self._lanes.values() for job in jobs}

    def withdraw(self, which: Callable[[Job], bool]) -> list[Job]:
        """Take back the waiting jobs ``which`` selects (paused, cancelled, lapsed)."""
        taken = []
        for lane, jobs in self._lanes.items():
            kept = deque(job for job in jobs if not which(job))
            if len(kept) != len(jobs):
                taken += [job for job in jobs if which(job)]
                self._lanes[lane] = kept
        return taken

    def put(self, job: Job, *, front: bool = False) -> None:
        """Offer ``job`` to the pool: to an idle device, else (high lane) to a busy one that
        holds nothing claimed, which claims it during its send (``claimers``), else in line."""
        for waiter in self._idle:
            if not waiter.future.done() and _may_send(job, waiter.device_id):
                self._idle.remove(waiter)
                waiter.future.set_result(job)
                return
        if self.claimers and job.lane is Lane.HIGH:
            for claim in self.claimers:
                if claim(job):
                    return
        if front:
            self._lanes[job.lane].appendleft(job)
        else:
            self._lanes[job.lane].append(job)

    def take_nowait(self, device_id: str, *, only: Lane | None = None) -> Job | None:
        """The next job ``device_id`` may send (of lane ``only``, when given) when one waits;
        None at once otherwise."""
        for lane in LANE_ORDER if only is None else (only,):
            jobs = self._lanes[lane]
            for job in jobs:
                if _may_send(job, device_id):
                    jobs.remove(job)
                    if lane is Lane.BULK and len(jobs) < self.bulk_low_water and self.on_bulk_low:
                        self.on_bulk_low()
                    return job
        return None

    async def take(self, device_id: str) -> Job:
        """The next job ``device_id`` may send; waits while there is none."""
        job = self.take_nowait(device_id)
        if job is not None:
            return job
        waiter = self.wait(device_id)
        try:
            job = await waiter.future
        except asyncio.CancelledError:
            self.leave(waiter, give_back=True)
            raise
        assert job is not None  # only ``wake`` resolves it without one
        return job

    def wait(self, device_id: str, *, takes_claimed: bool = False) -> Waiter:
        """``device_id`` waits in line: ``put`` resolves its future with a job; ``wake`` with
        None. One future per wait, awaited by the device's worker itself: no task in between.
        ``takes_claimed``: the pool's ``givers`` are asked first for a job claimed ahead by a
        busy device, which may come at once (``hand``), still claimed."""
        waiter = Waiter(device_id, asyncio.get_running_loop().create_future(), takes_claimed)
        self._idle.append(waiter)
        if takes_claimed and self.givers:
            # A job claimed ahead by a busy device, rather than idling (a copy: a giver that
            # hands its last job leaves the dict)
            for give in list(self.givers):
                if give(device_id):
                    break
        return waiter

    def hand(self, job: Job, device_id: str) -> bool:
        """Hand ``job``, claimed by another device of the pool and not begun, to the wait of
        ``device_id`` (one that ``takes_claimed``). Never queued here (a clean stop would leave
        it ``sending``): False when that device does not wait."""
        for waiter in self._idle:
            if waiter.device_id == device_id and waiter.takes_claimed:
                if waiter.future.done():
                    return False
                self._idle.remove(waiter)
                waiter.future.set_result(job)
                return True
        return False

    @staticmethod
    def wake(waiter: Waiter) -> None:
        """End ``waiter``'s wait without a job (a timeout, a registration change)."""
        if not waiter.future.done():
            waiter.future.set_result(None)

    def leave(self, waiter: Waiter, *, give_back: bool = False) -> Job | None:
        """``waiter`` stops waiting: out of the line; the job handed to it meanwhile, if any,
        is returned, or with ``give_back`` (its worker cancelled in the same tick) put back
        first in line, unless it came still claimed (``hand``): that one is returned, for the
        caller to put back in the queue (a commit)."""
        if waiter in self._idle:
            self._idle.remove(waiter)
        future = waiter.future
        job = future.result() if future.done() and not future.cancelled() else None
        if job is not None and give_back and job.state is not JobState.SENDING:
            self.put(job, front=True)
            return None
        return job

    def any_idle(self) -> bool:
        """Whether a device waits (or did: its wait may be resolved and not yet left)."""
        return bool(self._idle)

    def idle_devices(self, *, taking_claimed: bool = False) -> list[str]:
        """The devices waiting, longest first (``taking_claimed``: those that may be handed a
        job claimed ahead)."""
        return [
            w.device_id
            for w in self._idle
            if not w.future.done() and (w.takes_claimed or not taking_claimed)
        ]


def _may_send(job: Job, device_id: str) -> bool:
    return job.id_device is None or job.id_device == device_id
