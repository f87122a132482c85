"""One worker per device: take the next job of the pool, claim it, send it, record the outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from modemd.drivers.base import SmsDevice
from modemd.errors import SendError, StoreError
from modemd.model import DeviceState, Job
from modemd.runtime.pool import PoolQueue
from modemd.store import devices as device_rows
from modemd.store import jobs as job_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # transient failures (provably nothing sent) before a job is failed
BACKOFF_FIRST_S = 2.0  # after a transient failure the device rests, so others take the job
BACKOFF_MAX_S = 300.0  # cap of the doubling rest of a device that keeps failing


class DeviceWorker:
    """Sends the jobs of one device's pool while the device lives."""

    def __init__(
        self,
        device: SmsDevice,
        pool: PoolQueue,
        store: Store,
        on_state: Callable[[str, DeviceState], None] | None = None,
    ) -> None:
        self.device = device
        self.pool = pool
        self.store = store
        self.state = DeviceState.READY
        self._on_state = on_state
        self.current: Job | None = None
        self.waiting = False  # parked in the pool's take(): safe to cancel
        self._failed = False  # the last send failed for a reason that may lie in the device

    @property
    def device_id(self) -> str:
        return self.device.info.device_id

    async def set_state(self, state: DeviceState) -> None:
        """The one place a device changes state; logged and stored."""
        if state is self.state:
            return
        log.info("device %s: %s -> %s", self.device_id, self.state.value, state.value)
        self.state = state
        await self.store.write(
            device_rows.set_device_state, self.device_id, state, self.device.signal
        )
        if self._on_state is not None:
            self._on_state(self.device_id, state)

    async def run(self) -> None:
        """Serve jobs until cancelled or the device dies."""
        while True:
            self.waiting = True
            try:
                job = await self.pool.take(self.device_id)
            finally:
                self.waiting = False
            claimed = await self._claim(job)
            if claimed is None:
                log.warning("job %s was no longer queued; skipped", job.job_id)
                continue
            self.current = claimed
            await self.set_state(DeviceState.BUSY)
            try:
                gone = await self._send(claimed)
            finally:
                self.current = None
            if gone or not await self._recover():
                await self.set_state(DeviceState.GONE)
                return
            await self.set_state(DeviceState.READY)

    async def _claim(self, job: Job) -> Job | None:
        """Claim ``job`` for this device; a shutdown during the claim puts it back in line."""
        claim = asyncio.ensure_future(
            self.store.write(job_rows.claim_job, job.job_id, self.device_id)
        )
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            claimed = await claim
            if claimed is not None:  # claimed but nothing sent: not an unknown outcome
                await self.store.write(job_rows.requeue, claimed, "stopped before sending")
            raise

    async def _recover(self) -> bool:
        """After a failure: rest with capped doubling until the device answers; False if gone."""
        if not self._failed:
            return True
        delay = BACKOFF_FIRST_S
        while True:
            await self.set_state(DeviceState.BACKING_OFF)
            await asyncio.sleep(delay)
            if self.device.closed:
                return False
            if await self.device.probe():
                log.info("device %s: recovered", self.device_id)
                self._failed = False
                return True
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _send(self, job: Job) -> bool:
        """Send ``job`` and record what happened; True when the device is gone."""
        try:
            parts = await self.device.send_sms(job.to, job.message)
        except SendError as exc:
            return await self._record_failure(job, exc)
        except asyncio.CancelledError:
            # Shutdown mid-send: the modem may finish on its own. Never resend automatically.
            await asyncio.shield(
                self.store.write(job_rows.mark_unknown, job, "stopped while sending")
            )
            raise
        try:
            await self.store.write(job_rows.mark_sent, job, parts)
        except StoreError:
            log.exception("job %s sent (MR %s) but not recorded", job.job_id, parts)
            raise
        log.info(
            "job %s sent by %s (MR %s)",
            job.job_id,
            self.device_id,
            ",".join(str(p.mr) for p in parts),
        )
        return False

    async def _record_failure(self, job: Job, exc: SendError) -> bool:
        gone = self.device.closed
        self._failed = exc.transient
        if not exc.outcome_known:
            log.warning("job %s: outcome unknown on %s: %s", job.job_id, self.device_id, exc)
            await self.store.write(job_rows.mark_unknown, job, str(exc))
        elif (
            exc.transient and (await self.store.read(job_rows.attempts, job.job_id)) < MAX_ATTEMPTS
        ):
            log.info(
                "job %s: not sent on %s (%s); back in the queue", job.job_id, self.device_id, exc
            )
            requeued = await self.store.write(job_rows.requeue, job, str(exc))
            self.pool.put(requeued, front=True)
        else:
            log.warning("job %s failed on %s: %s", job.job_id, self.device_id, exc)
            await self.store.write(job_rows.mark_failed, job, str(exc), exc.code)
        return bool(gone)
