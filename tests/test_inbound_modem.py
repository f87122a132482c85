"""Received SMS on a modem, over real ptys: +CMTI, AT+CMGR, the commit, then AT+CMGD."""

from __future__ import annotations

import asyncio
from pathlib import Path

from modemd.at import commands as at
from modemd.drivers import registry
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import InboundSms

LONG = ("Three parts of GSM-7 text arrive out of order, one of them twice. " * 7)[:400]


class Received:
    """The runtime's side: collects messages, 'commits' each after a short pause."""

    def __init__(self) -> None:
        self.messages: list[InboundSms] = []

    def on_inbound(self, _device_id: str, sms: InboundSms) -> asyncio.Task[None]:
        async def commit() -> None:
            await asyncio.sleep(0.01)
            self.messages.append(sms)

        return asyncio.ensure_future(commit())


async def until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def driver_for(modem: EmulatedModem, received: Received) -> registry.SmsDevice:
    wiring = registry.Wiring(on_inbound=received.on_inbound)
    return registry.build_driver(registry.SerialModem(modem.port, "4711"), wiring)


async def used(driver: registry.SmsDevice) -> tuple[int, int] | None:
    assert isinstance(driver, registry.SerialAtDriver)
    return at.parse_storage(await driver.command(at.STORAGE_SIM))


async def test_texts_arrive_once_joined_and_the_memory_is_freed() -> None:
    async with EmulatedBank.create(1, seed=3) as bank:
        modem, received = bank.modems[0], Received()
        driver = driver_for(modem, received)
        await driver.open()
        try:
            modem.network.send("+393331234567", "ciao, à bientôt")
            modem.network.send("+15550001111", "emoji 😀 in UCS-2")
            modem.network.send("+447700900123", LONG, out_of_order=True, repeat_part=True)
            await until(lambda: len(received.messages) == 3)
            await asyncio.sleep(0.2)  # a late repeat would show up here
            texts = {m.sender: m.text for m in received.messages}
            assert texts == {
                "+393331234567": "ciao, à bientôt",
                "+15550001111": "emoji 😀 in UCS-2",
                "+447700900123": LONG,
            }
            joined = next(m for m in received.messages if m.parts > 1)
            assert joined.parts == 3 and not joined.incomplete and joined.encoding == "gsm7"
            assert len({m.natural_key for m in received.messages}) == 3
            await until(lambda: modem._session.storage.used == 0)
            assert await used(driver) == (0, modem.profile.storage_slots)
        finally:
            await driver.close()


async def test_messages_stored_while_nobody_listened_are_read_at_open(tmp_path: Path) -> None:
    async with EmulatedBank.create(1, seed=4, storage_dir=tmp_path) as bank:
        modem = bank.modems[0]
        modem.network.send("+393330000001", "while you were away")
        assert modem._session.storage.used == 1
    saved = await asyncio.to_thread(lambda: next(tmp_path.glob("*.sim.json")).read_text())
    assert "while" not in saved and len(saved) > 40  # stored as a PDU, like a SIM
    async with EmulatedBank.create(1, seed=4, storage_dir=tmp_path) as again:  # same IMEI
        received = Received()
        driver = driver_for(again.modems[0], received)
        await driver.open()
        try:
            await until(lambda: len(received.messages) == 1)
            assert received.messages[0].text == "while you were away"
            await until(lambda: again.modems[0]._session.storage.used == 0)
        finally:
            await driver.close()


async def test_a_full_memory_at_start_is_drained_and_sending_still_works() -> None:
    overrides = {"storage_slots": 4}
    async with EmulatedBank.create(1, seed=5, profile_overrides=overrides) as bank:
        modem = bank.modems[0]
        for n in range(7):  # 4 fill the SIM, 3 wait in the network
            modem.network.send(f"+3933300000{n:02d}", f"message {n}")
        assert modem._session.storage.used == 4 and len(modem.network.waiting) == 3
        received = Received()
        driver = driver_for(modem, received)
        await driver.open()
        try:
            await until(lambda: len(received.messages) == 7)
            assert sorted(m.text or "" for m in received.messages) == [
                f"message {n}" for n in range(7)
            ]
            parts = await driver.send_sms("+393339999999", "still sending")
            assert parts and modem.accepted[-1].text == "still sending"
        finally:
            await driver.close()
