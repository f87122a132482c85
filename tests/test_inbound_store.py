"""Received SMS through the bank into the store: once each, matched to the job it answers,
announced as sms.received to that job's key (a reply) or to the pool's keys (anything else), each
only when it chose sms.received (--events); national senders read with the pool's country."""

from __future__ import annotations

import asyncio
import json

import pytest
from builders import TO, sent_job

from modemd.drivers import registry
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DEFAULT_EVENTS, InboundSms
from modemd.runtime.bank import Bank
from modemd.runtime.inbound import e164
from modemd.store import events
from modemd.store import inbound as inbound_rows
from modemd.store.db import Store

FIRST = "+15550002222"  # the first key's job went here
L = "+15550003333"  # the listening key's job went here
TEST_TIMEOUT_S = 120.0  # the whole test; a hang fails with the stack of what it waited for


pytestmark = pytest.mark.both_engines  # store promises hold on SQLite and PostgreSQL


async def until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def test_senders_in_e164_with_the_pools_country() -> None:
    assert e164("+393331234567", None) == "+393331234567"
    assert e164("3331234567", "IT") == "+393331234567"
    assert e164("3331234567", None) == "3331234567"  # no country: as received
    assert e164("BANK", "IT") == "BANK"
    assert e164("4242", "IT") == "4242"  # a short code is no E.164 number


async def test_a_reply_is_stored_once_and_announced_to_the_jobs_key(store: Store) -> None:
    inbound = (*DEFAULT_EVENTS, "sms.received")
    first_key, _ = await sent_job(store, "https://receiver.example/ipn", to=FIRST)  # default set
    other_key, other = await sent_job(store, "https://other.example/ipn", events=inbound)
    listener, _ = await sent_job(store, "https://all.example/ipn", events=("sms.received",), to=L)
    seen: list[tuple[str, str, str]] = []
    bank = Bank(store, country=lambda pin: "IT")
    bank.inbound_listeners.append(
        lambda pin, sender, device, sms: seen.append((pin, sender, device))
    )
    async with asyncio.timeout(TEST_TIMEOUT_S), EmulatedBank.create(1, seed=7) as emulators:
        modem = emulators.modems[0]
        spec = registry.SerialModem(modem.port, "1")
        worker = await bank.attach(registry.factory(spec))
        assert worker is not None
        try:
            modem.network.send(TO, "yes please")
            modem.network.send("3331234567", "national sender")
            modem.network.send(FIRST, "to a key that did not ask")
            await until(lambda: len(seen) == 3)
            rows = await store.read(inbound_rows.list_inbound)
            by_sender = {r["from"]: r for r in rows}
            assert by_sender[TO]["text"] == "yes please"
            assert by_sender[TO]["reply_to_job_id"] == other.job_id  # the latest job to TO
            assert by_sender["+393331234567"]["reply_to_job_id"] is None
            received = [
                (json.loads(e["payload"])["data"]["text"], e["key_id"])
                for e in await store.read(lambda db: list(db["events"].rows))
                if e["type"] == "sms.received"
            ]
            # A reply only to the key of the job it answers (when it asked: first_key did not),
            # never to another key; the rest to every key of the pool that asked.
            assert sorted(received) == [
                ("national sender", other_key.key_id),
                ("national sender", listener.key_id),
                ("yes please", other_key.key_id),
            ]
            assert first_key.events == DEFAULT_EVENTS and "sms.received" not in DEFAULT_EVENTS
            # Read twice (a crash between the commit and AT+CMGD): stored once, no new event.
            natural_key = await store.read(
                lambda db: db.execute(
                    "SELECT natural_key FROM inbound WHERE sender = ?", [TO]
                ).fetchone()[0]
            )
            again = InboundSms(natural_key, TO, "yes please", None, "gsm7", 1)
            stored = await store.write(
                inbound_rows.store_inbound, worker.device_id, "1", "", TO, again
            )
            assert stored.duplicate
            assert len(await store.read(inbound_rows.list_inbound)) == 3
            assert len(await store.read(events.list_events, other.job_id)) == 2  # sent, received
        finally:
            await bank.close()
