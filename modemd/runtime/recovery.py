"""The recovery ladder of a device that stopped answering: each step is tried once, logged once
and counted, and the next is taken only when it failed.

(a) ESC + AT; (b) close and reopen the port, full init; (c) radio reset: AT+CFUN=0 then
AT+CFUN=1; (d) module reset: AT+CFUN=1,1 where supported; (e) USB reset (USBDEVFS_RESET on its
/dev/bus/usb node), only with ``[recovery] usb_reset = true``. A step that resets the module
or the USB device may take the port away: hot-plug (or the simulator) brings the same IMEI back
and the bank then says which step it recovered after. When every step failed the device is
``failed`` and the ladder is climbed again after ``retry_failed_s`` (hourly), in case a
person fixed it. Intervals come from config so that tests climb it in fractions of a second.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from modemd.drivers.base import Reopenable, Resettable, SmsDevice
from modemd.errors import DeviceError, ModemCommandError, PortClosedError

log = logging.getLogger(__name__)

UsbReset = Callable[[str], Awaitable[None]]  # (the device's tty) -> reset issued, else DeviceError

PROBE_INTERVAL_S = 25.0  # an idle device is probed this often: a hang is noticed within 30 s
STEP_PAUSE_S = 1.0  # between two steps: a modem that just woke gets a moment
CFUN_TIMEOUT_S = 15.0  # Quectel EC2x AT manual: AT+CFUN answers within 15 s
MODULE_BOOT_S = 10.0  # Quectel EC25: back on USB 5-13 s after AT+CFUN=1,1
RETURN_TIMEOUT_S = 60.0  # a device reset over USB must be back (same IMEI) within this
RETRY_FAILED_S = 3600.0  # a failed device climbs the ladder again after this (a person may fix it)


class RecoveryStep(enum.StrEnum):
    """A rung of the ladder; the value is what logs, IPNs and ``modemd devices`` say."""

    ESC_AT = "esc_at"  # ESC (ends a half-typed SMS) then AT, on the open port
    REOPEN = "reopen"  # close and reopen the port, then the full init
    RADIO_RESET = "radio_reset"  # AT+CFUN=0 then AT+CFUN=1, then the full init
    MODULE_RESET = "module_reset"  # AT+CFUN=1,1, boot, then the full init
    USB_RESET = "usb_reset"  # USBDEVFS_RESET: the port goes away and comes back


class Outcome(enum.StrEnum):
    """How a climb ended."""

    RECOVERED = "recovered"  # answering again (after ``Climb.step``)
    RETURNING = "returning"  # reset away (module or USB reset): the same IMEI should come back
    SIM_LOCKED = "sim_locked"  # answers, but its SIM wants a PIN we lack (or a PUK)
    REPLACED = "replaced"  # another IMEI answers on its port: not this device any more
    GONE = "gone"  # its port died (unplugged)
    FAILED = "failed"  # every step failed


@dataclass(frozen=True, slots=True)
class RecoverySettings:
    """``[recovery]`` in the config file."""

    usb_reset: bool = False  # step (e); the unit and udev rule must allow /dev/bus/usb
    probe_interval_s: float = PROBE_INTERVAL_S
    step_pause_s: float = STEP_PAUSE_S
    cfun_timeout_s: float = CFUN_TIMEOUT_S
    module_boot_s: float = MODULE_BOOT_S
    return_timeout_s: float = RETURN_TIMEOUT_S
    retry_failed_s: float = RETRY_FAILED_S


DEFAULT_RECOVERY = RecoverySettings()


@dataclass(frozen=True, slots=True)
class Climb:
    """The end of one climb: the outcome, the last step taken, why (in plain words)."""

    outcome: Outcome
    step: RecoveryStep | None
    why: str = ""


class Ladder:
    """Climbs the steps a device supports, in order, for one device."""

    def __init__(
        self, device_id: str, settings: RecoverySettings, usb_reset: UsbReset | None = None
    ) -> None:
        self.device_id = device_id
        self.settings = settings
        self.usb_reset = usb_reset if settings.usb_reset else None
        self.counts: Counter[RecoveryStep] = Counter()  # steps taken, over the device's life
        self.climbing = False  # a step is in progress: the port may close under it

    def steps(self, device: SmsDevice) -> list[RecoveryStep]:
        """The steps ``device`` supports, in order."""
        steps = [RecoveryStep.ESC_AT]
        if isinstance(device, Reopenable):
            steps.append(RecoveryStep.REOPEN)
        if isinstance(device, Resettable):
            steps += [RecoveryStep.RADIO_RESET, RecoveryStep.MODULE_RESET]
        if self.usb_reset is not None and hasattr(device, "port"):
            steps.append(RecoveryStep.USB_RESET)
        return steps

    async def climb(self, device: SmsDevice) -> Climb:
        """Take each step until one revives the device (or it is gone, or none does)."""
        self.climbing = True
        try:
            last: Climb = Climb(Outcome.FAILED, None, "no step")
            for index, step in enumerate(self.steps(device)):
                if index:
                    await asyncio.sleep(self.settings.step_pause_s)
                if device.closed and step is not RecoveryStep.USB_RESET:
                    return Climb(Outcome.GONE, step, "port closed")
                self.counts[step] += 1
                log.warning("device %s: recovery step %s", self.device_id, step)
                last = await self._take(step, device)
                if last.outcome is not Outcome.FAILED:
                    return last
                log.info("device %s: %s did not help: %s", self.device_id, step, last.why)
            return last
        finally:
            self.climbing = False

    async def _take(self, step: RecoveryStep, device: SmsDevice) -> Climb:
        try:
            answered = await self._run(step, device)
        except PortClosedError as exc:
            if step in (RecoveryStep.MODULE_RESET, RecoveryStep.USB_RESET):
                return Climb(Outcome.RETURNING, step, str(exc))
            return Climb(Outcome.GONE, step, str(exc))
        except ModemCommandError as exc:
            if "SIM" in exc.result or exc.code in SIM_CODES:
                return Climb(Outcome.SIM_LOCKED, step, exc.result)
            return Climb(Outcome.FAILED, step, str(exc))
        except DeviceError as exc:
            return Climb(Outcome.FAILED, step, str(exc))
        if step is RecoveryStep.USB_RESET:
            return Climb(Outcome.RETURNING, step, "USB reset issued")
        if answered is False:
            return Climb(Outcome.FAILED, step, "no answer")
        if isinstance(answered, str) and answered != self.device_id:
            return Climb(Outcome.REPLACED, step, f"IMEI {answered} answers on its port")
        return Climb(Outcome.RECOVERED, step)

    async def _run(self, step: RecoveryStep, device: SmsDevice) -> bool | str:
        """One step: True/False (answering or not) or the device_id it answers with."""
        settings = self.settings
        if step is RecoveryStep.ESC_AT:
            answered = await device.probe()
            if answered and isinstance(device, Resettable):
                await device.catch_up()
            return answered
        if step is RecoveryStep.REOPEN:
            assert isinstance(device, Reopenable)
            return await device.reopen()
        if step is RecoveryStep.RADIO_RESET:
            assert isinstance(device, Resettable)
            return await device.reset_radio(settings.cfun_timeout_s)
        if step is RecoveryStep.MODULE_RESET:
            assert isinstance(device, Resettable)
            return await device.reset_module(settings.cfun_timeout_s, settings.module_boot_s)
        assert self.usb_reset is not None
        await self.usb_reset(device.port)  # type: ignore[attr-defined]
        return True


# +CME ERROR codes that mean the SIM, not the modem, stops it (27.007 9.2): not inserted, PIN,
# PUK, failure, wrong password. A reset cannot fix them; a person (or the config) must.
SIM_CODES = frozenset({10, 11, 12, 13, 16})
