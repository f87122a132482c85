"""A modem that cannot store new SMS (AT+CNMI mt=1 refused) routes each as ``+CMT`` (mt=2): in
phase 2+ (AT+CSMS=1) the network keeps it until AT+CNMA, which the driver sends only once the
message is committed. Over real ptys against the emulator's "no storage routing" profile."""

from __future__ import annotations

import asyncio

from inbound_side import Committer, opened, tap_input, until

from modemd.emulators.modem_bank import EmulatedBank

LONG = ("Routed straight to the host, three parts, out of order, one twice. " * 7)[:400]
NO_STORAGE = {"storage_routing": False, "cnma_timeout_s": 1.0}


async def test_routed_sms_are_acknowledged_only_after_their_commit() -> None:
    async with EmulatedBank.create(1, seed=31, profile_overrides=NO_STORAGE) as bank:
        modem = bank.modems[0]
        committer, wire = Committer(lambda: len(modem.network.waiting)), tap_input(modem)
        async with opened(modem, committer):
            assert b"AT+CSMS=1\r" in wire and b"AT+CNMI=2,2,0,2,0\r" in wire
            modem.network.send("+393331234567", "ciao, à bientôt")
            modem.network.send("+15550001111", "emoji 😀 in UCS-2")
            await until(lambda: len(committer.messages) == 2)
            modem.network.send("+447700900123", LONG, out_of_order=True, repeat_part=True)
            await until(lambda: len(committer.messages) == 3 and not modem.network.waiting)
            await asyncio.sleep(0.3)  # a late repeat would show up here
            assert committer.texts == {
                "+393331234567": "ciao, à bientôt",
                "+15550001111": "emoji 😀 in UCS-2",
                "+447700900123": LONG,
            }
            # At each single message's commit the network still held it: not yet acknowledged.
            assert [held for _, held in committer.messages[:2]] == [2, 1]
            assert wire.count(b"AT+CNMA\r") == 6  # each +CMT: 2 texts, 3 parts, 1 repeat
            assert modem._session.storage.used == 0  # nothing went through the SIM


async def test_a_message_never_committed_is_delivered_again_and_stored_once() -> None:
    async with EmulatedBank.create(1, seed=32, profile_overrides=NO_STORAGE) as bank:
        modem, hold = bank.modems[0], asyncio.Event()
        stuck = Committer(hold=hold)  # the daemon dies before committing
        async with opened(modem, stuck):
            modem.network.send("+393330000001", "sent while the daemon was dying")
            await asyncio.sleep(0.2)
        assert not stuck.messages and len(modem.network.waiting) == 1  # not acknowledged: kept
        hold.set()  # (the dead daemon's commit task ends; nothing acknowledges it any more)
        # The modem gives up waiting for AT+CNMA, turns routing off (mt 0 stores silently) and
        # the network delivers again: the next open finds it in the SIM (AT+CMGL).
        await until(lambda: modem._session.storage.used == 1 and not modem.network.waiting)
        committer = Committer()
        async with opened(modem, committer):
            await until(lambda: len(committer.messages) == 1)
            assert committer.texts == {"+393330000001": "sent while the daemon was dying"}
            await until(lambda: modem._session.storage.used == 0)


async def test_phase_2_firmware_routes_without_acknowledgement() -> None:
    overrides = {**NO_STORAGE, "phase2plus": False}
    async with EmulatedBank.create(1, seed=33, profile_overrides=overrides) as bank:
        modem = bank.modems[0]
        committer, wire = Committer(lambda: len(modem.network.waiting)), tap_input(modem)
        async with opened(modem, committer):
            modem.network.send("+393331234567", "no ack needed")
            await until(lambda: len(committer.messages) == 1)
            assert committer.messages == [(committer.messages[0][0], 0)]  # taken on arrival
            assert committer.texts == {"+393331234567": "no ack needed"}
            assert b"AT+CNMA" not in wire


async def test_routed_reports_are_acknowledged_too_and_routing_stays_on() -> None:
    overrides = {**NO_STORAGE, "cds_stored": False, "cnma_timeout_s": 3.0}
    async with EmulatedBank.create(1, seed=34, profile_overrides=overrides) as bank:
        modem = bank.modems[0]
        committer, wire = Committer(), tap_input(modem)
        answers = bytearray()
        modem.on_output = answers.extend
        async with opened(modem, committer) as driver:
            assert b"AT+CNMI=2,2,0,1,0\r" in wire  # SMS and reports both routed (+CMT, +CDS)
            for n in range(3):
                modem.network.send(f"+39333000100{n}", f"reply {n}")
                await driver.send_sms(f"+39333000200{n}", f"out {n}")
            await until(lambda: len(committer.messages) == 3 and len(committer.reports) == 3)
            await until(lambda: wire.count(b"AT+CNMA\r") == 6 and not modem._session.acks.busy)
            assert sorted(committer.texts.values()) == ["reply 0", "reply 1", "reply 2"]
            assert b"+CMS ERROR: 340" not in answers  # each AT+CNMA answered one URC
            assert modem._session._settings.cnmi[1:4:2] == (2, 1)  # never timed out
