"""A phone's received SMS: its inbox polled with a cursor, each message handed on once per run,
read again after a restart (the store keeps it once: the app's id is its key); a signed
``sms:received`` webhook makes the next poll come at once, duplicates change nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import Any

from modemd.emulators.phone_webhooks import sign
from modemd.model import HintKind, InboundSms

from .conftest import FAST


async def until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_inbox_messages_are_handed_on_once(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone()
    got: list[InboundSms] = []
    driver = make_driver(phone, on_inbound=lambda _device, sms: got.append(sms))
    await driver.open()
    phone.receive("+393331112222", "ciao 😀")
    phone.receive("+15550001111", "second")
    await until(lambda: len(got) == 2)
    await asyncio.sleep(0.2)  # several more polls: nothing twice
    assert [(m.sender, m.text) for m in got] == [
        ("+393331112222", "ciao 😀"),
        ("+15550001111", "second"),
    ]
    assert len({m.natural_key for m in got}) == 2
    await driver.close()
    again: list[InboundSms] = []  # a restart reads the inbox again; keys are the same
    restarted = make_driver(phone, on_inbound=lambda _device, sms: again.append(sms))
    await restarted.open()
    await until(lambda: len(again) == 2)
    assert {m.natural_key for m in again} == {m.natural_key for m in got}


async def test_a_signed_received_webhook_polls_the_inbox_at_once(
    make_phone: Any, make_driver: Any
) -> None:
    phone = await make_phone()
    got: list[InboundSms] = []
    slow = dataclasses.replace(FAST, poll_s=30.0)
    driver = make_driver(
        phone,
        on_inbound=lambda _device, sms: got.append(sms),
        timings=slow,
        signing_key="k3y-123",
        webhook_url="http://127.0.0.1:9/api/v1/phones/{device_id}/webhook",
    )
    await driver.open()
    await until(lambda: len(phone.webhooks.hooks) == 4)  # sent, delivered, failed, received
    await until(lambda: driver._inbox is not None and not driver._inbox.hinted)
    entry = phone.receive("+393330000009", "hint me")
    envelope = {"id": "env-1", "event": "sms:received", "payload": {"messageId": entry["id"]}}
    body = json.dumps(envelope).encode()
    stamp = str(int(time.time()))
    headers = {"X-Timestamp": stamp, "X-Signature": sign("k3y-123", body, stamp)}
    verdict = driver.hint(body, headers, time.time())
    assert verdict.kind is HintKind.ACTED
    assert driver.hint(body, headers, time.time()).kind is HintKind.DUPLICATE
    await until(lambda: len(got) == 1, timeout=5.0)  # long before the 30 s poll
    assert got[0].text == "hint me"


async def test_an_app_without_an_inbox_is_said_once_not_every_poll(
    make_phone: Any, make_driver: Any, caplog: Any
) -> None:
    phone = await make_phone(has_inbox=False)
    seen: list[InboundSms] = []
    driver = make_driver(phone, on_inbound=lambda _device, sms: seen.append(sms))
    with caplog.at_level(logging.INFO, logger="modemd.drivers.phone_inbox"):
        await driver.open()
        (part,) = await driver.send_sms("+393331234567", "sending still works")
        await asyncio.sleep(0.3)  # about 15 polls of FAST
    said = [r for r in caplog.records if r.name == "modemd.drivers.phone_inbox"]
    assert [(r.levelno, "v1.59" in r.getMessage()) for r in said] == [(logging.WARNING, True)]
    assert part.mr >= 0 and not seen
