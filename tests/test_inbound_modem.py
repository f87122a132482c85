"""Received SMS on a modem, over real ptys: +CMTI, AT+CMGR, the commit, then AT+CMGD."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from inbound_side import Committer, driver_for, until

from modemd.at import commands as at
from modemd.drivers import registry
from modemd.emulators.modem_bank import EmulatedBank
from modemd.service import sim_storage
from modemd.sms import build_deliver

LONG = ("Three parts of GSM-7 text arrive out of order, one of them twice. " * 7)[:400]


async def used(driver: registry.SmsDevice) -> tuple[int, int] | None:
    assert isinstance(driver, registry.SerialAtDriver)
    return at.parse_storage(await driver.command(at.STORAGE_SIM))


async def test_texts_arrive_once_joined_and_the_memory_is_freed() -> None:
    async with EmulatedBank.create(1, seed=3) as bank:
        modem, received = bank.modems[0], Committer()
        driver = driver_for(modem, received)
        await driver.open()
        try:
            modem.network.send("+393331234567", "ciao, à bientôt")
            modem.network.send("+15550001111", "emoji 😀 in UCS-2")
            modem.network.send("+447700900123", LONG, out_of_order=True, repeat_part=True)
            await until(lambda: len(received.messages) == 3)
            await asyncio.sleep(0.2)  # a late repeat would show up here
            texts = received.texts
            assert texts == {
                "+393331234567": "ciao, à bientôt",
                "+15550001111": "emoji 😀 in UCS-2",
                "+447700900123": LONG,
            }
            joined = next(m for m, _ in received.messages if m.parts > 1)
            assert joined.parts == 3 and not joined.incomplete and joined.encoding == "gsm7"
            assert len({m.natural_key for m, _ in received.messages}) == 3
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
        received = Committer()
        driver = driver_for(again.modems[0], received)
        await driver.open()
        try:
            await until(lambda: len(received.messages) == 1)
            assert received.messages[0][0].text == "while you were away"
            await until(lambda: again.modems[0]._session.storage.used == 0)
        finally:
            await driver.close()


async def test_two_databases_in_one_folder_keep_their_simulated_sims_apart(
    tmp_path: Path,
) -> None:
    """Two ``--simulate`` daemons beside each other have modems with the same IMEIs: each
    keeps its SIMs in ``<database>-sims/`` (one shared file raced on its rename: a 500)."""
    folders = [sim_storage(str(tmp_path / name), shared=False) for name in ("a.db", "b.db")]
    assert folders[0] != folders[1] and None not in folders
    assert sim_storage(":memory:", shared=False) is None
    assert sim_storage("postgresql://host/modemd", shared=True) is None
    for folder, text in zip(folders, ("for a", "for b"), strict=True):
        async with EmulatedBank.create(1, seed=4, storage_dir=folder) as bank:  # same IMEI
            bank.modems[0].network.send("+393330000001", text)
    found = await asyncio.to_thread(lambda: list(tmp_path.glob("*/*.sim.json")))
    files = sorted(p.relative_to(tmp_path).parts[0] for p in found)
    assert files == ["a.db-sims", "b.db-sims"]
    for folder in folders:
        async with EmulatedBank.create(1, seed=4, storage_dir=folder) as again:
            assert again.modems[0]._session.storage.used == 1  # its own message only


async def test_a_full_memory_at_start_is_drained_and_sending_still_works() -> None:
    overrides = {"storage_slots": 4}
    async with EmulatedBank.create(1, seed=5, profile_overrides=overrides) as bank:
        modem = bank.modems[0]
        for n in range(7):  # 4 fill the SIM, 3 wait in the network
            modem.network.send(f"+3933300000{n:02d}", f"message {n}")
        assert modem._session.storage.used == 4 and len(modem.network.waiting) == 3
        received = Committer()
        driver = driver_for(modem, received)
        await driver.open()
        try:
            await until(lambda: len(received.messages) == 7)
            assert sorted(m.text or "" for m, _ in received.messages) == [
                f"message {n}" for n in range(7)
            ]
            parts = await driver.send_sms("+393339999999", "still sending")
            assert parts and modem.accepted[-1].text == "still sending"
        finally:
            await driver.close()


async def test_parts_still_missing_after_the_timeout_go_out_incomplete_by_a_timer() -> None:
    async with EmulatedBank.create(1, seed=6) as bank:
        modem, received = bank.modems[0], Committer()
        first, second, _lost = build_deliver(
            "+447700900123", LONG, scts=datetime.now(UTC), concat_ref=77
        )
        driver = driver_for(modem, received, multipart_timeout_s=0.5)
        await driver.open()
        try:
            for pdu in (second, first):  # the third part never comes
                assert modem._session.deliver_sms(pdu)
            modem._pump(None)
            # Nothing else arrives: the timer alone gives the message out.
            await until(lambda: len(received.messages) == 1)
            sms = received.messages[0][0]
            assert sms.incomplete and sms.missing == (3,) and sms.parts == 3
            assert sms.text == LONG[: len(sms.text or "")] and len(sms.text or "") == 2 * 153
            await until(lambda: modem._session.storage.used == 0)  # its parts freed
        finally:
            await driver.close()
