"""A bank's start-up opens each modem with only what sending needs (``identify_later``); maker,
model, IMSI and the radio's details come once every device is open and the modem's worker
has idled a moment (``tidy``: no job waits; ``identify_rest``, run by ``Bank.opened``), never
between two sends, nor in front of a job that comes just after the worker idled. Emulated
modems on real ptys, real drivers, a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import sqlite_utils
from inbound_side import Committer, commands_seen, driver_for, until

from modemd.drivers import registry
from modemd.drivers.serial_at import SerialAtDriver
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.errors import PortClosedError
from modemd.runtime.bank import Bank
from modemd.store.db import Store

PUT_OFF = ["AT+CGMI", "AT+CGMM", "AT+CIMI", "AT+CSQ", "AT+CNUM", "AT+COPS=3,0", "AT+COPS?"]


async def test_an_open_that_puts_off_identification_can_send_and_identifies_later() -> None:
    committer = Committer()
    async with EmulatedBank.create(1, seed=61) as bank:
        modem = bank.modems[0]
        modem.network.send("+447700900061", "stored while nobody listened")
        seen = commands_seen(modem)
        driver = driver_for(modem, committer)
        assert isinstance(driver, SerialAtDriver)
        driver.identify_later = True
        try:
            info = await driver.open()
            assert (info.manufacturer, info.model, info.imsi) == ("", "", "")
            assert info.device_id == modem.profile.imei and info.iccid == modem.profile.iccid
            assert not [c for c in seen if c in PUT_OFF], seen
            assert "AT+CMGL=4" in seen  # what came while nobody listened is read at open
            await until(
                lambda: committer.texts == {"+447700900061": "stored while nobody listened"}
            )
            await driver.send_sms("+393330000061", "ready means it can send")
            assert len(modem.accepted) == 1
            sent = len(seen)
            await driver.tidy()  # the worker idles: no job waits
            info = await driver.identify_rest()
            assert (info.manufacturer, info.model) == (
                modem.profile.manufacturer,
                modem.profile.model,
            )
            assert info.imsi == modem.profile.imsi and driver.info == info
            assert [c for c in seen[sent:] if c in PUT_OFF] == PUT_OFF, seen[sent:]
            again = len(seen)
            assert await driver.identify_rest() == info and len(seen) == again  # nothing more
        finally:
            await driver.close()


@contextlib.asynccontextmanager
async def _put_off(seed: int) -> AsyncIterator[tuple[EmulatedModem, SerialAtDriver, list[str]]]:
    """An emulated modem (no status report meanwhile), its driver opened with identification
    put off, and every command line the modem reads from then on."""
    quiet = {"report_delay_s": 3600.0}
    async with EmulatedBank.create(1, seed=seed, profile_overrides=quiet) as bank:
        modem = bank.modems[0]
        driver = driver_for(modem, Committer())
        assert isinstance(driver, SerialAtDriver)
        driver.identify_later = True
        try:
            await driver.open()
            yield modem, driver, commands_seen(modem)
        finally:
            await driver.close()


def _after_every_send(seen: list[str], sends: int) -> bool:
    """``sends`` sends, and what was put off only after the last of them."""
    started = [n for n, c in enumerate(seen) if c.startswith("AT+CMGS")]
    asked = [n for n, c in enumerate(seen) if c in PUT_OFF]
    return len(started) == sends and min(asked) > max(started)


async def test_what_was_put_off_waits_for_the_end_of_a_backlog() -> None:
    async with _put_off(64) as (modem, driver, seen):

        async def backlog() -> None:
            for n in range(4):  # one send right after the other
                await driver.send_sms(f"+39333000007{n}", "a backlog")

        sending = asyncio.create_task(backlog())
        await until(lambda: any(c.startswith("AT+CMGS") for c in seen))
        identify = asyncio.create_task(driver.identify_rest())  # asked during the first send
        await sending
        assert not identify.done()  # jobs may still come: it waits for the worker to idle
        await driver.tidy()
        info = await identify
        assert info.imsi == modem.profile.imsi
        assert _after_every_send(seen, 4), seen  # none between two sends


async def test_a_job_that_comes_just_after_the_worker_idled_goes_before_what_was_put_off() -> None:
    """As at a backlog's end, when another modem gives back a job it had claimed ahead: the
    worker idled a moment before, and the job must not wait behind AT+COPS? and the rest."""
    async with _put_off(66) as (modem, driver, seen):
        await driver.send_sms("+393330000090", "the backlog's last")
        identify = asyncio.create_task(driver.identify_rest())
        await driver.tidy()  # the worker idles
        await asyncio.sleep(0.1)  # the job given back comes a moment later
        await driver.send_sms("+393330000091", "given back")
        driver.identify_idle_s = 0.05
        await driver.tidy()
        info = await identify
        assert info.imsi == modem.profile.imsi
        assert _after_every_send(seen, 2), seen


async def test_a_full_open_puts_nothing_off() -> None:
    async with EmulatedBank.create(1, seed=62) as bank:
        modem = bank.modems[0]
        seen = commands_seen(modem)
        driver = driver_for(modem, Committer())
        assert isinstance(driver, SerialAtDriver)
        try:
            info = await driver.open()
            assert info.imsi == modem.profile.imsi and info.model == modem.profile.model
            assert [c for c in seen if c in PUT_OFF] == PUT_OFF
            before = len(seen)
            assert await driver.identify_rest() == info and len(seen) == before
        finally:
            await driver.close()


def _identities(db: sqlite_utils.Database) -> list[tuple[str, str, str]]:
    rows = db.execute("SELECT manufacturer, model, imsi FROM devices").fetchall()
    return sorted(tuple(row) for row in rows)


async def test_the_bank_writes_the_identity_put_off_once_its_start_up_is_over(
    store: Store,
) -> None:
    async with EmulatedBank.create(2, seed=63) as emulators:
        bank = Bank(store)
        await bank.start()
        bank.identify_later = True
        try:
            for modem in emulators.modems:
                spec = registry.SerialModem(modem.port, "4711")
                assert await bank.attach(registry.factory(spec)) is not None
            assert await store.read(_identities) == [("", "", ""), ("", "", "")]
            bank.opened()
            assert not bank.identify_later  # a modem plugged in from now on opens in full
            wanted = sorted(
                (m.profile.manufacturer, m.profile.model, m.profile.imsi) for m in emulators.modems
            )
            async with asyncio.timeout(20.0):  # polled, generously: the machine may be loaded
                while await store.read(_identities) != wanted:
                    await asyncio.sleep(0.02)
        finally:
            await bank.close()


async def test_what_waits_for_an_idle_moment_ends_when_the_modem_closes() -> None:
    async with EmulatedBank.create(1, seed=65) as bank:
        driver = driver_for(bank.modems[0], Committer())
        assert isinstance(driver, SerialAtDriver)
        driver.identify_later = True
        await driver.open()
        await driver.send_sms("+393330000080", "busy: the worker has not idled")
        identify = asyncio.create_task(driver.identify_rest())
        await asyncio.sleep(0)
        assert not identify.done()
        await driver.close()  # unplugged, or the daemon stops
        with pytest.raises(PortClosedError):
            await identify
