"""Hot-plug: follow udev, bring each labelled modem up on the bank, take it out on removal.

Events are debounced per USB device (its ttys appear one by one); then the modem's AT port is
found, the driver opens it (ESC + AT, identity, SIM PIN by ICCID, registration) and the bank
starts its worker. A removal takes the device out of its pool at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from modemd.drivers.registry import Attach, Detach, SerialModem
from modemd.drivers.serial_at import Timeouts
from modemd.errors import DeviceError, SimLockedError
from modemd.hardware.discovery import PROBE_TIMEOUT_S, find_at_port, group
from modemd.hardware.udev import Udev, UdevEvent
from modemd.model import DeviceLife, DeviceState, LabelRule

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.3  # quiet time after the last event of a USB device before it is opened
RETRY_FIRST_S = 5.0  # a modem that did not come up is tried again after this ...
RETRY_MAX_S = 300.0  # ... doubling up to this, while it stays plugged in


@dataclass(eq=False)
class _Slot:
    """One USB device seen by udev."""

    parent: str
    life: DeviceLife
    seen_at: float  # monotonic time of the event that (re)discovered it
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    device_id: str | None = None  # attached to the bank under this IMEI
    port: str | None = None  # its AT port while attached
    syspaths: set[str] = field(default_factory=set)


class HotPlug:
    """Keeps the bank in step with the labelled modems udev shows."""

    def __init__(
        self,
        udev: Udev,
        *,
        attach: Attach,
        detach: Detach,
        labels: tuple[LabelRule, ...] = (),
        sim_pins: dict[str, str] | None = None,
        timeouts: Timeouts | None = None,
        debounce_s: float = DEBOUNCE_S,
        retry_first_s: float = RETRY_FIRST_S,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
        opening: asyncio.Semaphore | None = None,
    ) -> None:
        self.attach = attach
        self.detach = detach
        self.udev = udev
        self.labels = labels
        self.sim_pins = dict(sim_pins or {})
        self.timeouts = timeouts or Timeouts()
        self.debounce_s = debounce_s
        self.retry_first_s = retry_first_s
        self.probe_timeout_s = probe_timeout_s
        # The bank's places for opening ports (runtime.opening.OPEN_CONCURRENCY): probing an
        # unhinted modem's ports opens them too, so a bank plugged in at once is probed in turn.
        self.opening = opening
        self.slots: dict[str, _Slot] = {}
        self.timings: list[tuple[str, str, float]] = []  # (what, device, seconds) for reports
        self._detaching: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Watch udev, then take every labelled modem already plugged in."""
        self.udev.watch(self.on_event)
        for port in self.udev.ports():
            self._seen(port.parent, port.syspath)

    async def close(self) -> None:
        """Stop watching and bringing modems up (the bank closes the attached ones)."""
        self.udev.stop()
        tasks = [*self._detaching]
        for slot in self.slots.values():
            if slot.timer is not None:
                slot.timer.cancel()
            if slot.task is not None:
                slot.task.cancel()
                tasks.append(slot.task)
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_event(self, event: UdevEvent) -> None:
        """A udev event (on the loop)."""
        log.debug("udev %s %s", event.action, event.syspath)
        if event.action == "remove":
            self._removed(event.syspath)
        elif event.port is not None and event.action in ("add", "change", "bind"):
            self._seen(event.port.parent, event.port.syspath)

    def _seen(self, parent: str, syspath: str) -> None:
        slot = self.slots.get(parent)
        if slot is None or slot.life.state is DeviceState.GONE:
            life = DeviceLife(parent.rsplit("/", 1)[-1])
            slot = self.slots[parent] = _Slot(parent, life, time.monotonic())
        slot.syspaths.add(syspath)
        if slot.timer is not None:
            slot.timer.cancel()
        loop = asyncio.get_running_loop()
        slot.timer = loop.call_later(self.debounce_s, self._settled, slot)

    def _settled(self, slot: _Slot) -> None:
        slot.timer = None
        if slot.task is None and slot.device_id is None:
            slot.task = asyncio.create_task(self._bring_up(slot), name=f"hotplug {slot.life.name}")

    def _removed(self, syspath: str) -> None:
        slot = next((s for s in self.slots.values() if syspath in s.syspaths), None)
        if slot is None:
            return
        slot.syspaths.discard(syspath)
        attached_port_gone = slot.port is not None and syspath.endswith("/" + slot.port[5:])
        if slot.syspaths and not attached_port_gone:
            return  # another of its ports went; the modem is still here
        removed_at = time.monotonic()
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None
        if slot.task is not None:
            slot.task.cancel()
        if slot.device_id is not None:
            self._time_leaving(slot.life, slot.device_id, removed_at)
            task = asyncio.create_task(
                self.detach(slot.device_id, "udev remove"), name=f"detach {slot.device_id}"
            )
            self._detaching.add(task)
            task.add_done_callback(self._detaching.discard)
        else:
            slot.life.transition(DeviceState.GONE, "unplugged")
        del self.slots[slot.parent]

    def _time_leaving(self, life: DeviceLife, device_id: str, removed_at: float) -> None:
        """Record how long after the udev removal the device left its pool (0: before it,
        when the port hung up first)."""
        if life.state is DeviceState.GONE:
            self.timings.append(("remove->gone", device_id, 0.0))
            return

        def gone(changed: DeviceLife, _previous: DeviceState) -> None:
            if changed.state is DeviceState.GONE:
                life.listeners.remove(gone)
                self._timed("remove->gone", device_id, removed_at)

        life.listeners.append(gone)

    def _timed(self, what: str, device: str, since: float) -> None:
        seconds = time.monotonic() - since
        self.timings.append((what, device, seconds))
        log.info("device %s: %s in %.1f ms", device, what, seconds * 1000)

    async def _bring_up(self, slot: _Slot) -> None:
        """Find the AT port and attach; retried with capped doubling while plugged in."""
        delay = self.retry_first_s
        try:
            while not await self._try_attach(slot):
                if slot.life.state is DeviceState.SIM_LOCKED or not slot.syspaths:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                slot.life.transition(DeviceState.OPENING, "trying again")
        finally:
            slot.task = None

    async def _try_attach(self, slot: _Slot) -> bool:
        """One attempt; True when attached or when there is nothing to attach."""
        ports = [p for p in self.udev.ports() if p.parent == slot.parent]
        modems, unusable = group(ports, self.labels)
        for item in unusable:
            log.info("%s ignored: %s", item.port.devnode, item.why)
        if not modems:
            slot.syspaths.clear()
            return True
        modem = modems[0]
        slot.life.name = modem.name
        slot.life.transition(DeviceState.OPENING, f"pin {modem.pin} ({modem.label_source})")
        async with self.opening if self.opening is not None else contextlib.nullcontext():
            port = await find_at_port(modem, self.probe_timeout_s)
        if port is None:
            slot.life.transition(DeviceState.BACKING_OFF, "no port answers AT")
            return False
        spec = SerialModem(port.devnode, modem.pin, self.sim_pins.get, self.timeouts)
        try:
            device_id = await self.attach(spec, slot.life)
        except SimLockedError:
            return False  # the life says sim_locked: a person acts
        except DeviceError as exc:
            slot.life.transition(DeviceState.BACKING_OFF, str(exc))
            return False
        if device_id is None:  # the same IMEI is attached on another port
            return True
        slot.device_id, slot.port = device_id, port.devnode
        self._timed("add->ready", device_id, slot.seen_at)
        return True
