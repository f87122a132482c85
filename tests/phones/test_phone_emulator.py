"""The emulated SMSGate app over real HTTP: the inconvenient parts a driver must live with."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from modemd.api.listener import start_listener
from modemd.drivers.phone_protocol import basic_auth
from modemd.emulators.phone import EmulatedPhone
from modemd.emulators.profile import SendRecorder

WAIT_S = 5.0


def auth(phone: EmulatedPhone, password: str | None = None) -> dict[str, str]:
    return basic_auth(phone.profile.username, password or phone.profile.password)


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.01)


def message(text: str, to: str = "+393330000001", **extra: Any) -> dict[str, Any]:
    return {"textMessage": {"text": text}, "phoneNumbers": [to], **extra}


async def test_basic_auth_and_health_that_fails_without_internet(make_phone: Any) -> None:
    phone = await make_phone()
    async with aiohttp.ClientSession() as http:
        async with http.get(phone.url + "/") as r:
            assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
        async with http.get(phone.url + "/", headers=auth(phone, "wrong")) as r:
            assert r.status == 401
        async with http.get(phone.url + "/", headers=auth(phone)) as r:
            assert (await r.json())["status"] == "ok"
        async with http.get(phone.url + "/health") as r:  # no auth needed
            assert r.status == 200
        phone.online = False  # a tethered phone without mobile data: 500, yet it can send
        async with http.get(phone.url + "/health") as r:
            assert r.status == 500 and (await r.json())["status"] == "fail"


async def test_reused_id_is_409_and_states_progress_per_recipient(make_phone: Any) -> None:
    phone = await make_phone()
    async with aiohttp.ClientSession(headers=auth(phone)) as http:
        async with http.post(phone.url + "/messages", json=message("hi", id="m1")) as r:
            assert r.status == 202 and (await r.json())["state"] == "Pending"
        async with http.post(phone.url + "/messages", json=message("hi", id="m1")) as r:
            assert r.status == 409 and "message" in await r.json()
        await until(lambda: phone.messages["m1"].state.value == "Delivered")
        async with http.get(phone.url + "/messages/m1") as r:
            body = await r.json()
        assert body["recipients"] == [{"phoneNumber": "+393330000001", "state": "Delivered"}]
        assert list(body["states"]) == ["Pending", "Processed", "Sent", "Delivered"]
        async with http.get(phone.url + "/messages", params={"state": "Delivered"}) as r:
            assert r.headers["X-Total-Count"] == "1" and [m["id"] for m in await r.json()] == ["m1"]
        async with http.get(phone.url + "/messages", params={"state": "Pending"}) as r:
            assert r.headers["X-Total-Count"] == "0"
        async with http.get(phone.url + "/messages/nope") as r:
            assert r.status == 404


async def test_lifo_until_fifo_is_set(make_phone: Any) -> None:
    phone = await make_phone(process_delay_s=0.2)

    async def order_of(ids: list[str]) -> list[str]:
        async with aiohttp.ClientSession(headers=auth(phone)) as http:
            for i in ids:
                async with http.post(phone.url + "/messages", json=message(i, id=i)) as r:
                    assert r.status == 202
        await until(lambda: all(phone.messages[i].state.value == "Delivered" for i in ids))
        return sorted(ids, key=lambda i: phone.messages[i].states["Processed"])

    assert await order_of(["a1", "a2", "a3"]) == ["a3", "a2", "a1"]  # the app's default
    async with aiohttp.ClientSession(headers=auth(phone)) as http:
        patch = {"messages": {"processing_order": "FIFO"}}
        async with http.patch(phone.url + "/settings", json=patch) as r:
            assert (await r.json())["messages"]["processing_order"] == "FIFO"
    assert await order_of(["b1", "b2", "b3"]) == ["b1", "b2", "b3"]


async def test_limit_exceeded_after_thirty_parts_a_minute(make_phone: Any) -> None:
    phone = await make_phone(process_delay_s=0.0)
    async with aiohttp.ClientSession(headers=auth(phone)) as http:
        for i in range(31):
            async with http.post(phone.url + "/messages", json=message("x", id=f"m{i}")) as r:
                assert r.status == 202
    await until(
        lambda: all(m.state.value in ("Delivered", "Failed") for m in phone.messages.values())
    )
    failed = [m for m in phone.messages.values() if m.state.value == "Failed"]
    assert [m.recipients[0]["error"] for m in failed] == [  # as the app words it
        "Send result: RESULT_ERROR_LIMIT_EXCEEDED "
        "(Failed because we reached the sending queue limit)"
    ]
    assert phone.limit_tripped == 1
    assert phone.recorder is not None
    assert len(SendRecorder.read(phone.recorder.path)) == 30  # the refused one never went out


async def test_cancel_only_while_pending(make_phone: Any) -> None:
    phone = await make_phone(process_delay_s=0.3)
    async with aiohttp.ClientSession(headers=auth(phone)) as http:
        async with http.post(phone.url + "/messages", json=message("hi", id="c1")) as r:
            assert r.status == 202
        async with http.delete(phone.url + "/messages/c1") as r:
            assert r.status == 204
        assert phone.messages["c1"].state.value == "Cancelled"
        async with http.delete(phone.url + "/messages/c1") as r:
            assert r.status == 409


async def test_webhooks_only_to_https_or_loopback_signed_and_sometimes_twice(
    make_phone: Any,
) -> None:
    phone = await make_phone(duplicate_webhook_rate=1.0)
    got: list[tuple[dict[str, Any], dict[str, str]]] = []
    listener, port = await start_listener(lambda body, headers: got.append((body, headers)))
    try:
        async with aiohttp.ClientSession(headers=auth(phone)) as http:
            hook = {"id": "h1", "url": "http://192.168.42.1:8099/hook", "event": "sms:delivered"}
            async with http.post(phone.url + "/webhooks", json=hook) as r:
                assert r.status == 400  # the host's tethering address over plain HTTP
            hook["url"] = f"http://127.0.0.1:{port}/hook"
            async with http.post(phone.url + "/webhooks", json=hook) as r:
                assert r.status == 201
            settings = {"webhooks": {"signing_key": "k3y", "internet_required": False}}
            async with http.patch(phone.url + "/settings", json=settings) as r:
                assert "signing_key" not in (await r.json())["webhooks"]  # write-only
            async with http.post(phone.url + "/messages", json=message("hi", id="w1")) as r:
                assert r.status == 202
        await until(lambda: len(got) == 2)
    finally:
        await listener.cleanup()
    (first, headers), (second, _) = got
    assert first == second  # the same event twice: receivers must de-duplicate
    assert first["event"] == "sms:delivered" and first["payload"]["messageId"] == "w1"
    timestamp = headers["X-Timestamp"]
    body = json.dumps(first).encode()  # the listener parsed it; the app's JSON round-trips
    expected = hmac.new(b"k3y", body + timestamp.encode(), hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == expected
