"""A pool's waiting line: jobs in FIFO order, idle devices in FIFO order.

``put`` hands a job straight to the longest-idle device that may send it, or queues it;
``take`` returns the oldest job the device may send, or parks the device until one comes.
No polling: a parked device wakes the moment a job is put. Each job goes to exactly one taker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from modemd.model import Job


@dataclass(slots=True)
class _Waiter:
    device_id: str
    future: asyncio.Future[Job]


@dataclass(slots=True)
class PoolQueue:
    pin: str
    _jobs: deque[Job] = field(default_factory=deque)
    _idle: deque[_Waiter] = field(default_factory=deque)

    def __len__(self) -> int:
        return len(self._jobs)

    def put(self, job: Job, *, front: bool = False) -> None:
        """Offer ``job`` to the pool."""
        for waiter in self._idle:
            if not waiter.future.done() and _may_send(job, waiter.device_id):
                self._idle.remove(waiter)
                waiter.future.set_result(job)
                return
        if front:
            self._jobs.appendleft(job)
        else:
            self._jobs.append(job)

    async def take(self, device_id: str) -> Job:
        """The next job ``device_id`` may send; waits while there is none."""
        for job in self._jobs:
            if _may_send(job, device_id):
                self._jobs.remove(job)
                return job
        waiter = _Waiter(device_id, asyncio.get_running_loop().create_future())
        self._idle.append(waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter in self._idle:
                self._idle.remove(waiter)
            elif waiter.future.done() and not waiter.future.cancelled():
                # Handed a job in the same tick we were cancelled: give it back, first in line.
                self.put(waiter.future.result(), front=True)
            raise

    def idle_devices(self) -> list[str]:
        return [w.device_id for w in self._idle if not w.future.done()]


def _may_send(job: Job, device_id: str) -> bool:
    return job.id_device is None or job.id_device == device_id
