"""The send API over a real socket: every status code of the contract, exactly as the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_harness import Api

from modemd.api.contract import HTTP_STATUS, STATUS_NAMES, StatusCode, markdown_tables
from modemd.store import jobs

README = (Path(__file__).parents[2] / "README.md").read_text()


def expect(body: dict, status: int, code: StatusCode) -> None:
    """The answer is exactly the contract's row for ``code``."""
    assert (status, body["response"], body["status_code"], body["status"]) == (
        HTTP_STATUS[code],
        str(HTTP_STATUS[code]),
        str(code.value),
        STATUS_NAMES[code],
    )


def test_readme_carries_the_generated_tables() -> None:
    assert markdown_tables() in README
    assert len(markdown_tables().splitlines()) == 2 + 12 + 1 + 2 + 4


async def test_accept_ok_ip(api: Api) -> None:
    status, body = await api.send(json=api.ok(unknown_field=[1, {"x": 2}]))
    expect(body, status, StatusCode.OK_IP)
    assert body["records"] == []  # no device attached: queued, offered to nobody yet
    assert (body["to"], body["length"], body["parts"], body["encoding"]) == (
        "+393331234567",
        4,
        1,
        "gsm7",
    )
    assert "cost" not in body  # no wallet: not priced
    job = await api.store.read(jobs.get_job, body["job_id"])
    assert job.to == "+393331234567" and job.state.value == "queued"
    assert len(api.bank.pool("4711")) == 1


async def test_accept_over_ip_form_and_bearer(api: Api) -> None:
    status, body = await api.send(
        data={"pin": "4711", "to": "+393331234567", "msg": "x" * 200},
        headers={"Authorization": f"Bearer {api.keys['any']}"},
    )
    expect(body, status, StatusCode.OK_OVER_IP)
    assert body["parts"] == 2 and body["length"] == 200 and body["encoding"] == "gsm7"


@pytest.mark.parametrize(
    ("to", "country", "dialled"),
    [
        ("333 123 4567", None, "+393331234567"),  # national, the key's country IT
        ("0039 333 1234567", None, "+393331234567"),  # IT's international prefix
        ("+49 30 1234567", "DE", "+49301234567"),
        ("4916", None, "4916"),  # a short code stays as it is
    ],
)
async def test_default_country_normalises(api: Api, to: str, country: str, dialled: str) -> None:
    status, body = await api.send(json=api.ok("italy", to=to))
    assert status == 200 and body["to"] == dialled


async def test_without_default_country_long_numbers_need_a_plus(api: Api) -> None:
    # Issue 22 item 7: 393331234567 without '+' and without a key country is ambiguous (it
    # used to be dialled as a national number); JSON numbers and form bodies alike.
    for request in (
        {"json": api.ok(to="393331234567")},
        {"json": api.ok(to=393331234567)},
        {"data": {**api.ok(), "to": "393331234567"}},
    ):
        status, body = await api.send(**request)
        assert (status, body["status_code"]) == (400, "5"), body
        assert "'+'" in body["message"] and "%2B" in body["message"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"to": ""}, StatusCode.MISSING_TO_NUMBER),
        ({"to": None}, StatusCode.MISSING_TO_NUMBER),
        ({"msg": ""}, StatusCode.MISSING_MSG),
        ({"msg": "   "}, StatusCode.MISSING_MSG),
        ({"to": "+39abc"}, StatusCode.PARAM_ERROR),
        ({"to": ["+39333"]}, StatusCode.PARAM_ERROR),
        ({"msg": {"text": "x"}}, StatusCode.PARAM_ERROR),
        ({"msg": "x" * 5000}, StatusCode.PARAM_ERROR),
        ({"id_device": "no-such-imei"}, StatusCode.TOKEN_OR_ID_DEVICE_ERROR),
    ],
)
async def test_field_errors(api: Api, change: dict, code: StatusCode) -> None:
    status, body = await api.send(json={**api.ok(), **change})
    expect(body, status, code)
    assert await api.job_count() == 0


async def test_key_errors_and_ip(api: Api) -> None:
    status, body = await api.send(json=api.ok("other_pin"))
    expect(body, status, StatusCode.API_KEY_ERROR)
    status, body = await api.send(json=api.ok("remote"))
    expect(body, status, StatusCode.UNAUTHORIZED_IP)
    assert "127.0.0.1" in body["message"]


async def test_get_job_and_devices(api: Api) -> None:
    _, body = await api.send(json=api.ok())
    headers = {"Authorization": f"Bearer {api.keys['local']}"}
    status, detail = await api.get(f"/api/v1/jobs/{body['job_id']}", headers=headers)
    assert status == 200 and detail["job"]["state"] == "queued" and detail["job"]["parts"] == 1
    status, missing = await api.get("/api/v1/jobs/job_nope", headers=headers)
    assert status == 404 and missing["response"] == "404"
    status, _ = await api.get(f"/api/v1/jobs/{body['job_id']}")
    assert status == 401
    other = {"Authorization": f"Bearer {api.keys['other_pin']}"}
    status, _ = await api.get(f"/api/v1/jobs/{body['job_id']}", headers=other)
    assert status == 404  # another pin's job is not visible
    status, devices = await api.get("/api/v1/devices", headers=headers)
    assert status == 200 and devices["devices"] == []


async def test_unknown_route_is_json(api: Api) -> None:
    status, body = await api.get("/nope")
    assert status == 404 and body["response"] == "404"


async def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    for _ in range(2):
        status, _ = await api.send(json=api.ok("slow"))
        assert status == 200
    async with api.session.post(api.url + "/api/v1/send", json=api.ok("slow")) as r:
        body = await r.json()
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    assert (body["response"], body["status"]) == ("429", "rate_limited")
    assert await api.job_count() == 2
    status, _ = await api.send(json=api.ok("any"))  # other keys are not affected
    assert status == 200
