"""The send API over a real socket: every status code of the contract, and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from modemd.api.app import create_app, start_site
from modemd.runtime.bank import Bank
from modemd.store import jobs, keys
from modemd.store.db import Store


@dataclass
class Api:
    url: str
    session: aiohttp.ClientSession
    store: Store
    bank: Bank
    keys: dict[str, str]

    async def send(self, **kwargs: object) -> tuple[int, dict]:
        async with self.session.post(self.url + "/api/v1/send", **kwargs) as r:
            return r.status, await r.json()


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    bank = Bank(store)
    await bank.start()
    made = {}
    for name, allow, over in (
        ("local", ["127.0.0.0/8"], False),
        ("any", [], True),
        ("remote", ["192.0.2.0/24", "2001:db8::/32"], False),
    ):
        _, secret = await store.write(
            lambda db, a=allow, o=over: keys.create_key(
                db, pin="4711", allow_ips=a, over_ip=o, ipn_url=None
            )
        )
        made[name] = secret
    _, other = await store.write(
        lambda db: keys.create_key(db, pin="9999", allow_ips=[], over_ip=True, ipn_url=None)
    )
    made["other_pin"] = other
    runner, port = await start_site(create_app(store, bank), "127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        yield Api(f"http://127.0.0.1:{port}", session, store, bank, made)
    await runner.cleanup()
    await bank.close()


def ok(api: Api, key: str = "local", **extra: object) -> dict:
    return {"apikey": api.keys[key], "pin": "4711", "to": "+39 333 1234567", "msg": "ciao", **extra}


async def count_jobs(api: Api) -> int:
    return len(await api.store.read(jobs.list_jobs))


async def test_accept_ok_ip(api: Api) -> None:
    status, body = await api.send(json=ok(api))
    assert status == 200
    assert body["response"] == "200" and body["status_code"] == "1" and body["status"] == "ok_ip"
    assert body["records"] == []  # no device attached: queued, offered to nobody yet
    job = await api.store.read(jobs.get_job, body["job_id"])
    assert job.to == "+393331234567" and job.state.value == "queued"
    assert len(api.bank.pool("4711")) == 1


async def test_accept_over_ip_form_and_bearer(api: Api) -> None:
    status, body = await api.send(
        data={"pin": "4711", "to": "+393331234567", "msg": "x" * 200},
        headers={"Authorization": f"Bearer {api.keys['any']}"},
    )
    assert status == 200 and body["status_code"] == "2" and body["status"] == "ok_over_ip"
    assert body["parts"] == 2 and body["encoding"] == "gsm7"


@pytest.mark.parametrize(
    ("payload", "http", "code"),
    [
        ({"pin": "4711", "to": "+3933", "msg": "m"}, 401, "3"),
        ({"apikey": "mdk_" + "A" * 43, "pin": "4711", "to": "+3933", "msg": "m"}, 401, "3"),
        ({"apikey": "nonsense", "to": "+3933", "msg": "m"}, 401, "3"),
        ({"apikey": 12345, "to": "+3933", "msg": "m"}, 401, "3"),
    ],
)
async def test_api_key_error(api: Api, payload: dict, http: int, code: str) -> None:
    status, body = await api.send(json=payload)
    assert (status, body["status_code"], body["status"]) == (http, code, "api_key_error")
    assert await count_jobs(api) == 0


async def test_key_of_another_pin(api: Api) -> None:
    status, body = await api.send(json=ok(api, "other_pin"))
    assert (status, body["status_code"]) == (401, "3")


async def test_unauthorized_ip(api: Api) -> None:
    status, body = await api.send(json=ok(api, "remote"))
    assert (status, body["status_code"], body["status"]) == (403, "4", "unauthorized_ip")
    assert "127.0.0.1" in body["message"]


@pytest.mark.parametrize(
    ("change", "code", "name"),
    [
        ({"to": ""}, "7", "missing_to_number"),
        ({"to": None}, "7", "missing_to_number"),
        ({"msg": ""}, "8", "missing_msg"),
        ({"msg": "   "}, "8", "missing_msg"),
        ({"to": "+39abc"}, "5", "param_error"),
        ({"to": ["+39333"]}, "5", "param_error"),
        ({"msg": {"text": "x"}}, "5", "param_error"),
        ({"msg": "x" * 5000}, "5", "param_error"),
        ({"id_device": "no-such-imei"}, "6", "token_or_id_device_error"),
    ],
)
async def test_field_errors(api: Api, change: dict, code: str, name: str) -> None:
    status, body = await api.send(json={**ok(api), **change})
    assert body["status_code"] == code and body["status"] == name
    assert status == int(body["response"]) and status >= 400
    assert await count_jobs(api) == 0


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b"{not json", {"Content-Type": "application/json"}),
        (b"[1, 2]", {"Content-Type": "application/json"}),
        (b"\xff\xfe{}", {"Content-Type": "application/json"}),
    ],
)
async def test_malformed_bodies(api: Api, data: bytes, headers: dict) -> None:
    status, body = await api.send(data=data, headers=headers)
    assert (status, body["status_code"], body["status"]) == (400, "5", "param_error")
    assert await count_jobs(api) == 0


async def test_huge_body_is_refused_with_json(api: Api) -> None:
    status, body = await api.send(
        data=b"x" * (1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert status == 413 and body["response"] == "413" and body["status_code"] == "5"
    assert await count_jobs(api) == 0


async def test_get_job_and_devices(api: Api) -> None:
    _, body = await api.send(json=ok(api))
    headers = {"Authorization": f"Bearer {api.keys['local']}"}
    async with api.session.get(f"{api.url}/api/v1/jobs/{body['job_id']}", headers=headers) as r:
        detail = await r.json()
    assert r.status == 200 and detail["job"]["state"] == "queued" and detail["job"]["parts"] == 1
    async with api.session.get(f"{api.url}/api/v1/jobs/job_nope", headers=headers) as r:
        assert r.status == 404 and (await r.json())["response"] == "404"
    async with api.session.get(f"{api.url}/api/v1/jobs/{body['job_id']}") as r:
        assert r.status == 401
    other = {"Authorization": f"Bearer {api.keys['other_pin']}"}
    async with api.session.get(f"{api.url}/api/v1/jobs/{body['job_id']}", headers=other) as r:
        assert r.status == 404  # another pin's job is not visible
    async with api.session.get(f"{api.url}/api/v1/devices", headers=headers) as r:
        assert r.status == 200 and (await r.json())["devices"] == []


async def test_unknown_route_is_json(api: Api) -> None:
    async with api.session.get(f"{api.url}/nope") as r:
        assert r.status == 404 and (await r.json())["response"] == "404"
