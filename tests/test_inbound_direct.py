"""A modem that cannot store new SMS (AT+CNMI mt=1 refused) routes each as ``+CMT`` (mt=2): in
phase 2+ (AT+CSMS=1) the network keeps it until AT+CNMA, which the driver sends only once the
message is committed. Over real ptys against the emulator's "no storage routing" profile."""

from __future__ import annotations

import asyncio

from modemd.drivers import registry
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import InboundSms

LONG = ("Routed straight to the host, three parts, out of order, one twice. " * 7)[:400]
NO_STORAGE = {"storage_routing": False, "cnma_timeout_s": 1.0}


class Committer:
    """The runtime's side: each commit notes how many PDUs the network still held then."""

    def __init__(self, modem: EmulatedModem, *, hold: asyncio.Event | None = None) -> None:
        self._modem = modem
        self._hold = hold  # set: commits wait for it (a daemon that dies before committing)
        self.messages: list[tuple[InboundSms, int]] = []

    def on_inbound(self, _device_id: str, sms: InboundSms) -> asyncio.Task[None]:
        async def commit() -> None:
            if self._hold is not None:
                await self._hold.wait()
            await asyncio.sleep(0.05)
            self.messages.append((sms, len(self._modem.network.waiting)))

        return asyncio.ensure_future(commit())


async def until(condition: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def driver_for(modem: EmulatedModem, committer: Committer) -> registry.SmsDevice:
    wiring = registry.Wiring(on_inbound=committer.on_inbound)
    return registry.build_driver(registry.SerialModem(modem.port, "4711"), wiring)


def written(modem: EmulatedModem) -> bytearray:
    lines = bytearray()
    modem.on_input = lines.extend
    return lines


async def test_routed_sms_are_acknowledged_only_after_their_commit() -> None:
    async with EmulatedBank.create(1, seed=31, profile_overrides=NO_STORAGE) as bank:
        modem = bank.modems[0]
        committer, wire = Committer(modem), written(modem)
        driver = driver_for(modem, committer)
        await driver.open()
        try:
            assert b"AT+CSMS=1\r" in wire and b"AT+CNMI=2,2,0,2,0\r" in wire
            modem.network.send("+393331234567", "ciao, à bientôt")
            modem.network.send("+15550001111", "emoji 😀 in UCS-2")
            await until(lambda: len(committer.messages) == 2)
            modem.network.send("+447700900123", LONG, out_of_order=True, repeat_part=True)
            await until(lambda: len(committer.messages) == 3 and not modem.network.waiting)
            await asyncio.sleep(0.3)  # a late repeat would show up here
            texts = {sms.sender: sms.text for sms, _ in committer.messages}
            assert texts == {
                "+393331234567": "ciao, à bientôt",
                "+15550001111": "emoji 😀 in UCS-2",
                "+447700900123": LONG,
            }
            # At each single message's commit the network still held it: not yet acknowledged.
            assert [held for _, held in committer.messages[:2]] == [2, 1]
            assert wire.count(b"AT+CNMA\r") == 6  # each +CMT: 2 texts, 3 parts, 1 repeat
            assert modem._session.storage.used == 0  # nothing went through the SIM
        finally:
            await driver.close()


async def test_a_message_never_committed_is_delivered_again_and_stored_once() -> None:
    async with EmulatedBank.create(1, seed=32, profile_overrides=NO_STORAGE) as bank:
        modem = bank.modems[0]
        hold = asyncio.Event()
        stuck = Committer(modem, hold=hold)  # the daemon dies before committing
        first = driver_for(modem, stuck)
        await first.open()
        modem.network.send("+393330000001", "sent while the daemon was dying")
        await asyncio.sleep(0.2)
        await first.close()
        assert not stuck.messages and len(modem.network.waiting) == 1  # not acknowledged: kept
        hold.set()  # (the dead daemon's commit task ends; nothing acknowledges it any more)
        # The modem gives up waiting for AT+CNMA, turns routing off (mt 0 stores silently) and
        # the network delivers again: the next open finds it in the SIM (AT+CMGL).
        await until(lambda: modem._session.storage.used == 1 and not modem.network.waiting)
        committer = Committer(modem)
        second = driver_for(modem, committer)
        await second.open()
        try:
            await until(lambda: len(committer.messages) == 1)
            assert committer.messages[0][0].text == "sent while the daemon was dying"
            await until(lambda: modem._session.storage.used == 0)
        finally:
            await second.close()


async def test_phase_2_firmware_routes_without_acknowledgement() -> None:
    overrides = {**NO_STORAGE, "phase2plus": False}
    async with EmulatedBank.create(1, seed=33, profile_overrides=overrides) as bank:
        modem = bank.modems[0]
        committer, wire = Committer(modem), written(modem)
        driver = driver_for(modem, committer)
        await driver.open()
        try:
            modem.network.send("+393331234567", "no ack needed")
            await until(lambda: len(committer.messages) == 1)
            assert committer.messages[0][0].text == "no ack needed"
            assert committer.messages[0][1] == 0  # the modem took it on arrival
            assert b"AT+CNMA" not in wire
        finally:
            await driver.close()
