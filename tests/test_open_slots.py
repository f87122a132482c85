"""The bank opens at most ``open_concurrency`` devices at once (emulated modems on real ptys,
real drivers, a real SQLite file); a device waiting for the network does not hold its place."""

from __future__ import annotations

import asyncio

from modemd.drivers import registry
from modemd.drivers.serial_at import Timeouts
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeviceLife, DeviceState
from modemd.runtime.bank import Bank
from modemd.store.db import Store

FAST = Timeouts(command_s=2.0, prompt_s=1.0, cmgs_s=10.0, registration_s=30.0)
SEARCHING = 2  # +CREG stat 2: not registered, searching


def factory(modem: EmulatedModem) -> registry.DriverFactory:
    return registry.factory(registry.SerialModem(modem.port, "4711", timeouts=FAST))


class Opening:
    """How many devices are between their first byte on the port and the network search."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def watch(self, modem: EmulatedModem) -> DeviceLife:
        """Count ``modem`` from the first byte it reads; the life to attach it with."""
        seen = False
        before = modem.on_input

        def first_byte(data: bytes) -> None:
            nonlocal seen
            if not seen:
                seen = True
                self.now += 1
                self.most = max(self.most, self.now)
            if before is not None:
                before(data)

        def searching(life: DeviceLife, _previous: DeviceState) -> None:
            if life.state is DeviceState.SEARCHING_NETWORK:
                self.now -= 1

        modem.on_input = first_byte
        life = DeviceLife(modem.port, DeviceState.OPENING)
        life.listeners.append(searching)
        return life


async def test_at_most_open_concurrency_devices_open_together(store: Store) -> None:
    emulators = EmulatedBank.create(6, seed=21)
    await emulators.start()
    bank = Bank(store, open_concurrency=2)
    await bank.start()
    opening = Opening()
    try:
        attached = await asyncio.gather(
            *(bank.attach(factory(m), opening.watch(m)) for m in emulators.modems)
        )
        assert all(worker is not None for worker in attached)
        assert len(bank.device_ids()) == 6
        assert opening.most == 2
        assert opening.now == 0
    finally:
        await bank.close()
        await emulators.close()


async def test_a_device_searching_the_network_leaves_its_place_to_the_next(store: Store) -> None:
    emulators = EmulatedBank.create(2, seed=22)
    await emulators.start()
    searching, registered = emulators.modems
    searching.set_registration(SEARCHING)
    bank = Bank(store, open_concurrency=1)
    await bank.start()
    life = DeviceLife(searching.port, DeviceState.OPENING)
    try:
        waiting = asyncio.create_task(bank.attach(factory(searching), life), name="searching")
        async with asyncio.timeout(20):
            while life.state is not DeviceState.SEARCHING_NETWORK:
                await asyncio.sleep(0.01)
            assert await bank.attach(factory(registered)) is not None  # the one place is free
        assert not waiting.done()  # still searching meanwhile
        searching.set_registration(1)
        async with asyncio.timeout(20):
            assert await waiting is not None
        assert sorted(bank.device_ids()) == sorted(m.profile.imei for m in emulators.modems)
    finally:
        await bank.close()
        await emulators.close()
