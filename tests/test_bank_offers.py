"""The bank's kept lists of a pool's offers (what a send's answer lists): made again at once
when a device comes, goes, comes back or changes pool, on emulated modems and real drivers."""

from __future__ import annotations

from typing import Any

from hardware.testbed import until

from modemd.drivers import registry
from modemd.drivers.serial_at import Timeouts
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeviceState
from modemd.runtime.bank import Bank, Offer
from modemd.store.db import Store

FAST = Timeouts(command_s=1.0, prompt_s=0.5, cmgs_s=10.0, registration_s=1.0)


def listed(bank: Bank, pin: str) -> set[str]:
    return {o.device_id for o in bank.offers(pin)}


async def test_a_pools_kept_offers_follow_its_devices(store: Store) -> None:
    emulators = EmulatedBank.create(3, seed=5, profile_overrides={"send_latency_s": (0.0, 0.01)})
    await emulators.start()
    bank = Bank(store)
    await bank.start()

    async def attach(modem: Any, pin: str) -> str:
        spec = registry.SerialModem(modem.port, pin, timeouts=FAST)
        worker = await bank.attach(registry.factory(spec))
        assert worker is not None
        return worker.device_id

    try:
        first, second, third = emulators.modems
        one, two = await attach(first, "4711"), await attach(second, "4711")
        kept = bank.offers("4711")
        assert {o.device_id for o in kept} == {one, two}
        assert bank.offers("4711") is kept  # kept, not made per call
        assert bank.offers("4711", two) == [Offer(two, "4711", "modem")]
        assert bank.offers("9999") == []

        three = await attach(third, "4711")  # a device comes
        assert listed(bank, "4711") == {one, two, three}

        first.unplug()  # a device goes: out of the list as soon as its state says so
        await until(lambda: bank.workers[one].state is DeviceState.GONE)
        assert listed(bank, "4711") == {two, three}
        assert not bank.has_device("4711", one) and bank.has_device("4711", two)

        await first.usb_reset()  # it comes back (the same IMEI, a new port) in another pool
        assert await attach(first, "9999") == one
        assert listed(bank, "4711") == {two, three}
        assert bank.offers("9999") == [Offer(one, "9999", "modem")]
        assert bank.has_device("9999", one) and not bank.has_device("4711", one)
        assert bank.offers("4711", one) == []
    finally:
        await bank.close()
        await emulators.close()
