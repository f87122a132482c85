"""Phone webhooks as hints: the emulated app posts to the daemon, the driver polls at once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from modemd import config
from modemd.api.app import create_app, start_site
from modemd.drivers import registry
from modemd.drivers.phone import PhoneDriver
from modemd.drivers.registry import Wiring
from modemd.emulators.phone import AppState, EmulatedPhone
from modemd.emulators.phone_webhooks import sign
from modemd.errors import ConfigError
from modemd.model import Job, JobState
from modemd.runtime.bank import Bank
from modemd.store import events
from modemd.store import jobs as job_rows
from modemd.store.db import Store

from .conftest import FAST
from .test_phone_bank import WAIT_S, queue_job, state_of

SLOW_POLL = dataclasses.replace(FAST, poll_s=60.0, liveness_s=60.0)  # only a hint is fast
KEY = "hook-key-123"


class CountingDriver(PhoneDriver):
    """A phone driver that counts the hints it was given."""

    hints = 0  # every hint that reached the driver
    acted = 0  # of which those it polled for (the message was its own and not finished)

    def poll_now(self, message_id: str) -> bool:
        self.hints += 1
        polled = super().poll_now(message_id)
        self.acted += polled
        return polled


@dataclass
class Daemon:
    """The API on 127.0.0.1 with a bank holding one phone whose webhooks point at it."""

    store: Store
    bank: Bank
    port: int
    driver: CountingDriver

    def hook_url(self, device_id: str | None = None) -> str:
        device = device_id or self.driver.info.device_id
        return f"http://127.0.0.1:{self.port}/api/v1/phones/{device}/webhook"

    async def post(
        self, body: bytes, *, key: str = KEY, age_s: float = 0.0, device_id: str | None = None
    ) -> int:
        timestamp = str(int(time.time() - age_s))
        headers = {"X-Timestamp": timestamp, "X-Signature": sign(key, body, timestamp)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.hook_url(device_id), data=body, headers=headers) as response,
        ):
            return response.status

    async def event_types(self, job: Job) -> list[str]:
        return [e["type"] for e in await self.store.read(events.list_events, job.job_id)]


def envelope(message_id: str, event: str = "sms:delivered", envelope_id: str = "e1") -> bytes:
    payload = {"messageId": message_id, "phoneNumber": "+393330000001"}
    return json.dumps({"id": envelope_id, "event": event, "payload": payload}).encode()


@pytest.fixture
async def daemon(store: Store, make_phone: Any) -> AsyncIterator[Any]:
    """Start the API and a bank, then attach a phone built by the test's knobs."""
    bank = Bank(store)
    await bank.start()
    runner, port = await start_site(create_app(store, bank), "127.0.0.1", 0)

    async def attach(**knobs: Any) -> tuple[Daemon, EmulatedPhone]:
        phone = await make_phone(**knobs)
        url = f"http://127.0.0.1:{port}/api/v1/phones/{{device_id}}/webhook"
        drivers: list[CountingDriver] = []

        def build(wiring: Wiring) -> CountingDriver:
            drivers.append(
                CountingDriver(
                    phone.url,
                    "4711",
                    password=phone.profile.password,
                    timings=SLOW_POLL,
                    on_report=wiring.on_report,
                    on_gone=wiring.on_gone,
                    webhook_url=url,
                    signing_key=KEY,
                )
            )
            return drivers[-1]

        assert await bank.attach(build) is not None
        return Daemon(store, bank, port, drivers[0]), phone

    yield attach
    await bank.close()
    await runner.cleanup()


async def test_open_registers_the_hooks_and_the_signing_key(daemon: Any) -> None:
    found, phone = await daemon()
    assert phone.settings["webhooks"] == {
        "internet_required": False,
        "retry_count": 15,
        "signing_key": KEY,
    }
    assert {h["id"]: (h["event"], h["url"]) for h in phone.webhooks.hooks.values()} == {
        f"modemd-{state}": (f"sms:{state}", found.hook_url("phone0"))
        for state in ("sent", "delivered", "failed")
    }


async def test_a_hint_delivers_at_once_and_duplicates_change_nothing(daemon: Any) -> None:
    found, phone = await daemon(duplicate_webhook_rate=1.0)
    job = await state_of(
        found.store, await queue_job(found.store, found.bank, "+393330000001"), JobState.DELIVERED
    )
    # Delivered within WAIT_S: the hints did it, the 60 s poll never came. Each webhook is
    # posted twice and acted on once: sms:sent's, then sms:delivered's; or, when the poll for
    # sms:sent already finds the message delivered (seen on a loaded machine), sms:sent's
    # alone, and both copies of sms:delivered find nothing to wait for.
    assert found.driver.acted in (1, 2)
    (message_id,) = phone.messages
    late = envelope(message_id, "sms:sent", "late-sent")  # out of order: after delivered
    assert await found.post(late) == 404  # no longer tracked: nothing to poll
    assert await found.event_types(job) == ["sms.sent", "sms.delivered"]
    assert await state_of(found.store, job, JobState.DELIVERED) == job


async def test_a_bad_signature_is_refused_and_polls_nothing(daemon: Any) -> None:
    found, phone = await daemon()
    phone.patch_settings({"webhooks": {"signing_key": "not-ours"}})  # the app's own posts: 401
    job = await state_of(
        found.store, await queue_job(found.store, found.bank, "+393330000002"), JobState.SENT
    )
    (message_id,) = phone.messages
    async with asyncio.timeout(WAIT_S):  # the app knows; only a poll can tell the driver
        while phone.messages[message_id].state is not AppState.DELIVERED:
            await asyncio.sleep(0.01)
    body = envelope(message_id, envelope_id="forged")
    assert await found.post(body, key="not-ours") == 401
    assert await found.post(body, age_s=600) == 401  # signed, but stale: a replay
    assert found.driver.hints == 0
    still = await found.store.read(job_rows.get_job, job.job_id)
    assert still is not None and still.state is JobState.SENT
    assert await found.post(body) == 200  # the same envelope, signed with our key
    await state_of(found.store, job, JobState.DELIVERED)
    assert await found.post(body) == 200  # a duplicate: acted on once
    assert found.driver.hints == 1


async def test_unknown_message_device_or_garbage_never_5xx(daemon: Any) -> None:
    found, _ = await daemon()
    assert await found.post(envelope("modemd-1-1")) == 404
    assert await found.post(envelope("modemd-1-1"), device_id="nosuchphone") == 404
    assert await found.post(b"{not json") == 400
    assert await found.post(b'{"id": "x", "payload": []}') == 400
    async with aiohttp.ClientSession() as session:  # headers no HMAC can come from
        headers = {"X-Timestamp": "\udcff", "X-Signature": "\u00e9" * 64}
        async with session.post(found.hook_url(), data=b"{}", headers=headers) as response:
            assert response.status == 401
    assert found.driver.hints == 1  # only the well-formed one reached the driver


def test_the_config_keys_reach_the_driver(tmp_path: Path) -> None:
    path = tmp_path / "modemd.toml"
    entry = '[[phones]]\nurl = "http://p:8080"\npin = "1"\npassword = "x"\n'
    path.write_text(entry + 'webhook_url = "https://gw/api/v1/phones/{device_id}/webhook"\n')
    with pytest.raises(ConfigError, match="both 'webhook_url' and 'signing_key'"):
        config.load(str(path))
    path.write_text(entry + 'webhook_url = "https://gw/hook"\nsigning_key = "k"\n')
    (phone,) = config.load(str(path)).phones
    driver = registry.build_driver(registry.phone_of(phone))
    assert isinstance(driver, PhoneDriver)
    assert (driver.webhook_url, driver.signing_key) == ("https://gw/hook", "k")
    path.write_text(entry)
    (plain,) = config.load(str(path)).phones
    assert (plain.webhook_url, plain.signing_key) == (None, None)  # default off
