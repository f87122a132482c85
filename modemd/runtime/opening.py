"""How many devices open at once: a bank of modems plugged in (or found at start) together
must not open every port in the same instant."""

from __future__ import annotations

import asyncio

from modemd.model import DeviceLife, DeviceState

# Devices opening and identifying at once (port open, ESC + AT, identity, SIM PIN); waiting for
# the network frees the slot. Opening a USB serial port starts the host polling it (a bulk-in
# URB each), and a modem powers its radio up then: host controllers and hubs with few channels
# or a weak supply stall or reset when dozens open together (a Raspberry Pi's dwc_otg with more
# than 6-8 modems: raspberrypi/firmware#582, raspberrypi/linux#2847). A 256-modem emulated bank
# is CPU-bound: 32, 64, 128 or all at once were ready within the same noise (README "256 modems").
OPEN_CONCURRENCY = 32


class OpenSlot:
    """One device's place among those opening at once (``OPEN_CONCURRENCY``): taken before
    the port opens, given back when the device searches the network or the open ends."""

    def __init__(self, slots: asyncio.Semaphore, life: DeviceLife) -> None:
        self._slots = slots
        self._life = life
        self._held = False

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        self._held = True

    async def __aexit__(self, *_exc: object) -> None:
        self._release()

    def on_phase(self, state: DeviceState) -> None:
        """The driver's phase callback: the device's life moves; the network wait is free."""
        self._life.transition(state)
        if state is DeviceState.SEARCHING_NETWORK:
            self._release()

    def _release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()
