"""Status reports kept in a memory of their own ("SR", as SIM7600 and ZTE firmware do):
``+CDSI: "SR",<i>`` names an index of that memory, readable only once ``AT+CPMS="SR"`` has
made it <mem1>. The emulator over its pty, then the driver against it: reports read and freed
there, received SMS still read from the SIM, reports stored while nobody listened read at open.
"""

from __future__ import annotations

import asyncio
import os
import time

from inbound_side import Committer, commands_seen, driver_for, emulated_driver, until

from modemd.at import commands as at
from modemd.at.transaction import Command
from modemd.drivers.at_port import AtPort
from modemd.drivers.memory_select import MemoryPort, Selection
from modemd.emulators.modem import AcceptedMessage, EmulatedModem, MessageFormat
from modemd.emulators.modem_bank import EmulatedBank

APART = {"report_memory": "SR", "cds_direct": False}
READ_S = 10.0  # generous: the machine may be loaded


class RawPort:
    """The modem's pty as a bare client: one command line, its answer up to the final result."""

    def __init__(self, modem: EmulatedModem) -> None:
        self._fd = os.open(modem.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.unsolicited = b""

    async def ask(self, line: str) -> bytes:
        os.write(self._fd, line.encode() + b"\r")
        got = b""
        async with asyncio.timeout(READ_S):
            while not got.endswith((b"OK\r\n", b"ERROR\r\n")) and b"ERROR: " not in got:
                await asyncio.sleep(0.01)
                try:
                    got += os.read(self._fd, 4096)
                except BlockingIOError:
                    continue
        return got

    def close(self) -> None:
        os.close(self._fd)


def _accepted(modem: EmulatedModem, mr: int) -> AcceptedMessage:
    now = time.time()
    return AcceptedMessage(
        modem.name, modem.profile.imei, mr, "+393330000042", "x", 1, 1, MessageFormat.PDU, now
    )


async def test_the_emulator_keeps_reports_in_sr_readable_once_selected() -> None:
    async with EmulatedBank.create(1, seed=40, profile_overrides=APART) as bank:
        modem = bank.modems[0]
        port = RawPort(modem)
        try:
            for line in ("ATE0", "AT+CMGF=0", "AT+CNMI=2,1,0,2,0"):
                await port.ask(line)
            offered = await port.ask("AT+CPMS=?")
            assert offered.startswith(b'\r\n+CPMS: ("SM","ME","MT","SR"),("SM","ME","MT"),')
            modem.deliver_report(_accepted(modem, 7))
            announced = await port.ask("AT")
            assert b'+CDSI: "SR",1\r\n' in announced
            assert b"+CMS ERROR: 321" in await port.ask("AT+CMGR=1")  # the SIM's index 1
            assert b"+CPMS: 1,20,0,20,0,20" in await port.ask('AT+CPMS="SR"')
            assert b"+CMGR: ,," in await port.ask("AT+CMGR=1")
            assert b'+CPMS: "SR",1,20,"SM",0,20' in await port.ask("AT+CPMS?")
            assert b"ERROR" in await port.ask('AT+CPMS="SR","SR"')  # mem2 is never SR
            await port.ask("AT+CMGD=1,1")  # every read message of <mem1>
            assert modem._session.memories.reports.used == 0
        finally:
            port.close()


async def test_a_modem_without_the_option_offers_no_sr_and_announces_sm() -> None:
    async with EmulatedBank.create(1, seed=41, profile_overrides={"cds_direct": False}) as bank:
        modem = bank.modems[0]
        port = RawPort(modem)
        try:
            for line in ("ATE0", "AT+CMGF=0", "AT+CNMI=2,1,0,2,0"):
                await port.ask(line)
            assert b'"SR"' not in await port.ask("AT+CPMS=?")
            modem.deliver_report(_accepted(modem, 8))
            assert b'+CDSI: "SM",1\r\n' in await port.ask("AT")
        finally:
            port.close()


FAST = {**APART, "send_latency_s": (0.01, 0.01), "report_delay_s": 0.05}


async def test_the_driver_reads_and_frees_reports_in_sr_and_sms_still_from_the_sim() -> None:
    committer = Committer()
    async with emulated_driver(42, committer, **FAST) as (modem, driver):
        seen = commands_seen(modem)
        memories = modem._session.memories
        sent = [await driver.send_sms(f"+39333000010{n}", "report kept in SR") for n in range(3)]
        await until(lambda: len(committer.reports) == 3)
        modem.network.send("+447700900010", "a reply, kept on the SIM")
        await until(lambda: len(committer.messages) == 1)
        await driver.tidy()
        await until(lambda: memories.reports.used == 0 and memories.sim.used == 0)
        assert sorted(r.reference for r, _ in committer.reports) == [p[0].mr for p in sent]
        assert committer.texts == {"+447700900010": "a reply, kept on the SIM"}
        mem1, where = "SM", []  # each read and free, with the memory selected when it ran
        for command in seen:
            if command.startswith("AT+CPMS="):
                mem1 = command.split('"')[1]
            elif command.startswith(("AT+CMGR", "AT+CMGL", "AT+CMGD")):
                where.append(mem1)
        assert "SR" in where and "SM" in where, seen
        assert where.count("SR") + where.count("SM") == len(where)


async def test_reports_kept_in_sr_while_nobody_listened_are_read_at_open() -> None:
    committer = Committer()
    async with emulated_driver(43, committer, **FAST) as (modem, driver):
        parts = await driver.send_sms("+393330000110", "the daemon dies now")
        await driver.close()
        await until(lambda: modem._session.memories.reports.used == 1)
        assert committer.reports == []
        second = driver_for(modem, committer)
        await second.open()
        try:
            await until(lambda: len(committer.reports) == 1)
            assert committer.reports[0][0].reference == parts[0].mr
            await second.tidy()  # type: ignore[attr-defined]
            await until(lambda: modem._session.memories.reports.used == 0)
        finally:
            await second.close()


async def test_a_modem_refusing_the_selection_is_read_as_its_one_memory() -> None:
    """A +CDSI that says "SR" on firmware whose AT+CPMS refuses "SR": the read goes to the
    modem's one memory, where the report is (logged once, not tried again)."""
    async with EmulatedBank.create(1, seed=44, profile_overrides={"cds_direct": False}) as bank:
        modem = bank.modems[0]
        port = AtPort(modem.port, 5.0)
        port.open_port()
        try:
            for line in ("ATE0", "AT+CMGF=0", "AT+CNMI=2,1,0,2,0"):
                await port.command(Command(line))
            modem.deliver_report(_accepted(modem, 9))
            reports = MemoryPort(port, Selection(), at.REPORT_MEMORY)
            for _ in range(2):
                answer = await reports.command(at.read_message(1))
                assert at.parse_read(1, answer) is not None
            assert reports.selectable is False
        finally:
            port.close()
