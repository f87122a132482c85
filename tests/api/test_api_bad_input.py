"""Hostile input, per status code: every refused request answers its exact code, charges
nothing and writes nothing (the whole database is compared) but a log line."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from api_harness import Api, MakeApi

from modemd.api.auth import api_config
from modemd.store import keys, wallet

TEN_MB = 10 * 1024 * 1024


async def refused(api: Api, caplog: pytest.LogCaptureFixture, **request: Any) -> dict[str, Any]:
    """Send; assert the database is unchanged and the refusal was logged; return the body."""
    before = await api.dump()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="modemd.api"):
        async with api.session.post(api.url + "/api/v1/send", **request) as r:
            body = await r.json()
            assert r.status == int(body["response"]) and r.status >= 400
    assert await api.dump() == before
    assert any(rec.name.startswith("modemd.api") for rec in caplog.records), "no log line"
    return body


def right_length_wrong_key(real: str) -> str:
    """Same prefix length and alphabet, last character changed."""
    return real[:-1] + ("A" if real[-1] != "A" else "B")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"apikey": "mdk_" + "A" * 43}, "3"),
        ({"apikey": "nonsense"}, "3"),
        ({"apikey": 12345}, "3"),
        ({"apikey": ""}, "3"),
        ({"pin": "9999"}, "3"),  # a pin the key is not for
        ({"to": -393331234567}, "5"),  # negative JSON number
        ({"to": "-393331234567"}, "5"),
        ({"to": 10**30}, "5"),  # 31 digits
        ({"to": 1e300}, "5"),
        ({"to": True}, "5"),
        ({"to": "+1234567890123456"}, "5"),  # 16 digits
        ({"to": "+39 333 ABC 4567"}, "5"),
        ({"to": "1-800-FLOWERS"}, "5"),  # vanity letters are not dialled
        ({"to": "+39\uff13\uff13\uff13 1234567"}, "5"),  # fullwidth digits
        ({"to": "+39+3331234567"}, "5"),
        ({"to": "+3933"}, "5"),  # impossible length for Italy
        ({"to": "12"}, "5"),
        ({"to": "   "}, "7"),
        ({"msg": None}, "8"),
        ({"msg": "\u3000"}, "8"),
        ({"msg": ["a"]}, "5"),
        ({"msg": "x" * 1601}, "5"),
        ({"id_device": "../../etc/passwd"}, "6"),
        ({"id_device": "9" * 5000}, "6"),
        ({"id_device": -1}, "5"),
    ],
)
async def test_hostile_fields(
    api: Api, caplog: pytest.LogCaptureFixture, change: dict, code: str
) -> None:
    body = await refused(api, caplog, json={**api.ok(), **change})
    assert body["status_code"] == code


async def test_wrong_key_of_the_right_length(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    forged = right_length_wrong_key(api.keys["local"])
    assert len(forged) == len(api.keys["local"]) and forged[:12] == api.keys["local"][:12]
    body = await refused(api, caplog, json=api.ok(apikey=forged))
    assert body["status_code"] == "3"
    bearer = {"Authorization": f"Bearer {forged}"}
    body = await refused(api, caplog, json={**api.ok(), "apikey": None}, headers=bearer)
    assert body["status_code"] == "3"


async def test_key_of_another_pin(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    body = await refused(api, caplog, json=api.ok("other_pin"))
    assert (body["status_code"], body["status"]) == ("3", "api_key_error")


async def test_revoked_key(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    await api.store.write(keys.revoke_key, api.key_ids["local"])
    body = await refused(api, caplog, json=api.ok())
    assert body["status_code"] == "3"


async def test_spoofed_forwarded_for(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    body = await refused(
        api, caplog, json=api.ok("remote"), headers={"X-Forwarded-For": "192.0.2.1"}
    )
    assert body["status_code"] == "4" and "127.0.0.1" in body["message"]


async def test_mapped_address_outside_the_list(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = await make_api(api_config(["127.0.0.1"]))
    body = await refused(
        api, caplog, json=api.ok("remote"), headers={"X-Forwarded-For": "::ffff:198.51.100.7"}
    )
    assert body["status_code"] == "4" and "198.51.100.7" in body["message"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b'{"to": "+39\xff333", "msg": "x"}', "application/json"),
        (b'{"to": ' + b"9" * 5000 + b"}", "application/json"),  # beyond int conversion limit
        (b"[" * 30000 + b"]" * 30000, "application/json"),  # deep nesting
        (b"to=%2B393331234567&msg=caf\xe9", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_bodies(
    api: Api, caplog: pytest.LogCaptureFixture, data: bytes, content_type: str
) -> None:
    body = await refused(
        api,
        caplog,
        data=data,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {api.keys['local']}"},
    )
    assert body["status_code"] in ("3", "5")  # the key is read from the body: none parsed


async def raw_post(url: str, data: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
    """POST like curl does: the whole body first, then read the answer (aiohttp's client
    stops sending once it sees an early answer, and the server would wait for the rest)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /api/v1/send HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    try:
        writer.write(head.encode() + data)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_ten_megabyte_body(
    api: Api, caplog: pytest.LogCaptureFixture, content_type: str
) -> None:
    before = await api.dump()
    with caplog.at_level(logging.INFO, logger="modemd.api"):
        status, body = await raw_post(api.url, b"x" * TEN_MB, content_type)
    assert (status, body["response"], body["status_code"]) == (413, "413", "5")
    assert await api.dump() == before
    assert any("413" in rec.getMessage() for rec in caplog.records)


async def test_short_of_credit(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    await api.store.write(wallet.set_price, "*", wallet.parse_amount("0.10"))
    await api.store.write(wallet.topup, api.key_ids["local"], wallet.parse_amount("0.15"))
    body = await refused(api, caplog, json=api.ok(msg="x" * 200))  # 2 parts: 0.20
    assert (body["status_code"], body["status"]) == ("9", "balance_error")
    assert (await api.store.read(wallet.balance, api.key_ids["local"])).available == 1500
