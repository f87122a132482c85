"""Devices a recovery step reset away (a USB reset takes the port): expected back on a new
port within ``return_timeout_s``, else failed (an IPN says so)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine

from modemd.model import DeviceState, EventType
from modemd.runtime.recovery import RecoverySettings, RecoveryStep
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices as device_rows
from modemd.store import events as event_rows
from modemd.store.db import Store

log = logging.getLogger("modemd.runtime.bank")  # the lines keep the bank's logger name

Spawn = Callable[[Coroutine[object, object, None], str], object]  # the bank's owned tasks


class Returns:
    """The bank's devices reset away, each with the timer that fails it if it stays away."""

    def __init__(
        self,
        store: Store,
        recovery: RecoverySettings,
        workers: dict[str, DeviceWorker],
        spawn: Spawn,
    ) -> None:
        self.store = store
        self.recovery = recovery
        self.workers = workers  # the bank's, by device id
        self.spawn = spawn
        self._timers: dict[str, asyncio.TimerHandle] = {}

    async def came_back(self, worker: DeviceWorker, step: RecoveryStep) -> None:
        """A device reset away by ``step`` is attached again: it recovered after that step."""
        timer = self._timers.pop(worker.device_id, None)
        if timer is not None:
            timer.cancel()
        log.warning("device %s: recovered after %s", worker.device_id, step)
        await self.store.write(
            event_rows.add_device_event,
            worker.device.info.pin,
            worker.device_id,
            EventType.DEVICE_RECOVERED,
            {"step": step, "reason": "", "state": ""},
        )

    def expect(self, worker: DeviceWorker, step: RecoveryStep) -> None:
        """``worker``'s device was reset away by ``step``: failed unless it is back in time."""

        def too_late() -> None:
            self._timers.pop(worker.device_id, None)
            if self.workers.get(worker.device_id) is worker:
                self.spawn(self._never_came_back(worker, step), f"failed {worker.device_id}")

        loop = asyncio.get_running_loop()
        self._timers[worker.device_id] = loop.call_later(self.recovery.return_timeout_s, too_late)

    async def _never_came_back(self, worker: DeviceWorker, step: RecoveryStep) -> None:
        why = f"not back {self.recovery.return_timeout_s:.0f} s after {step}"
        log.error("device %s: failed: %s", worker.device_id, why)
        worker.returning = None
        worker.life.transition(DeviceState.FAILED, why)
        await self.store.write(device_rows.set_device_state, worker.device_id, DeviceState.FAILED)
        await self.store.write(
            event_rows.add_device_event,
            worker.device.info.pin,
            worker.device_id,
            EventType.DEVICE_FAILED,
            {"step": step, "reason": why, "state": DeviceState.FAILED.value},
        )
