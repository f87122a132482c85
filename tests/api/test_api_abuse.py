"""/send under abuse and by clumsy clients (issues 18 and 22): numbers that lost their '+',
premium numbers (SMS pumping), per-destination limits, idempotent retries, input that used to
answer 500, and a pool with no devices."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_harness import Api, MakeApi
from click.testing import CliRunner

from modemd.api.auth import ApiConfig
from modemd.cli import main
from modemd.store import accept, jobs, refusals


def job_count(api: Api):
    return api.store.read(lambda db: db.execute("SELECT count(*) FROM jobs").fetchone()[0])


async def test_a_form_encoded_plus_is_not_lost(api: Api) -> None:
    # A client that does not percent-encode '+' sends "to=+39...": it arrives as " 39...".
    body = f"apikey={api.keys['italy']}&to=+393331234567&msg=ciao"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, answer = await api.send(data=body, headers=headers)
    assert status == 200 and answer["to"] == "+393331234567"  # not +39 393331234567


async def test_same_idempotency_key_same_request_is_one_job(api: Api) -> None:
    headers = {"Idempotency-Key": "6f1c7a2e-retry-1"}
    status, first = await api.send(json=api.ok(), headers=headers)
    assert status == 200 and first["devices_available"] == 0
    status, again = await api.send(json=api.ok(), headers=headers)
    assert status == 200 and again["job_id"] == first["job_id"]
    assert again["idempotent_replay"] is True and again["records"] == []
    assert await job_count(api) == 1
    # A form client passes the key as a field; it is the same key space per API key.
    form = {**api.ok(), "idempotency_key": "6f1c7a2e-retry-1"}
    status, third = await api.send(data=form)
    assert status == 200 and third["job_id"] == first["job_id"]


async def test_same_idempotency_key_other_request_is_a_conflict(api: Api) -> None:
    headers = {"Idempotency-Key": "order-77"}
    assert (await api.send(json=api.ok(), headers=headers))[0] == 200
    status, body = await api.send(json=api.ok(msg="another text"), headers=headers)
    assert (status, body["status_code"], body["status"]) == (422, "12", "idempotency_conflict")
    assert await job_count(api) == 1
    status, body = await api.send(json=api.ok(), headers={"Idempotency-Key": "has space"})
    assert (status, body["status_code"]) == (400, "5")


async def test_idempotency_key_is_per_api_key(api: Api) -> None:
    headers = {"Idempotency-Key": "same-words"}
    _, mine = await api.send(json=api.ok(), headers=headers)
    _, theirs = await api.send(json=api.ok("any"), headers=headers)
    assert mine["job_id"] != theirs["job_id"] and await job_count(api) == 2


async def test_a_number_of_unknown_type_is_accepted_and_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    status, body = await api.send(json=api.ok(to="+390001234567"))  # no Italian range: +39 000
    assert (status, body["status_code"]) == (200, "1"), body
    assert "send to +390001234567: number type unknown to phonenumbers; allowed" in caplog.text


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("+449012345678", "premium_rate"),  # GB 09 premium rate
        ("+39899123456", "premium_rate"),  # IT 899
        ("+39848123456", "shared_cost"),  # IT 848
        ("4916", "short_code"),
    ],
)
async def test_premium_numbers_and_short_codes_are_refused(
    api: Api, to: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    status, body = await api.send(json=api.ok(to=to))
    assert (status, body["status_code"], body["status"]) == (422, "11", "blocked_destination")
    assert body["reason"] == reason
    assert await job_count(api) == 0
    refused = await api.store.read(refusals.list_refusals)
    assert [(r["to"], r["reason"]) for r in refused] == [(body["message"].split()[0], reason)]
    assert f"refused: {body['message']} ({reason})" in caplog.text
    # A key that may (``allow_premium``) sends it.
    status, body = await api.send(json=api.ok("italy", to=to))
    assert status == 200, body


async def test_destination_limits_per_recipient_and_prefix(make_api: MakeApi) -> None:
    limits = accept.DestinationLimits(
        prefix_digits=5, per_prefix_per_hour=3, per_recipient_per_hour=2
    )
    api = await make_api(ApiConfig(destination_limits=limits))
    for _ in range(2):
        assert (await api.send(json=api.ok(to="+393331234567")))[0] == 200
    status, body = await api.send(json=api.ok(to="+393331234567"))
    assert (status, body["status_code"], body["reason"]) == (422, "11", "recipient_limit")
    assert (await api.send(json=api.ok(to="+393331234568")))[0] == 200  # same prefix +39333
    status, body = await api.send(json=api.ok(to="+393331234569"))
    assert (status, body["reason"]) == (422, "prefix_limit")
    assert (await api.send(json=api.ok(to="+393401234567")))[0] == 200  # another prefix
    assert (await api.send(json=api.ok("any", to="+393331234567")))[0] == 200  # another key
    counted = await api.store.read(refusals.count_by_reason)
    assert counted == {"prefix_limit": 1, "recipient_limit": 1}


@pytest.mark.parametrize(
    "raw",
    [
        '{"apikey": "KEY", "to": "+393331234567", "msg": "\\ud800"}',
        '{"apikey": "KEY", "to": "+393331234567", "msg": "a\\udfffb"}',
        '{"apikey": "mdk_\\ud800xxxxxxxxxxxxxxxx", "to": "+393331234567", "msg": "hi"}',
        '{"apikey": "KEY", "to": "+39333\\ud800", "msg": "hi"}',
        '{"apikey": "KEY", "pin": "\\ud800", "to": "+393331234567", "msg": "hi"}',
    ],
)
async def test_lone_surrogates_are_param_errors(
    api: Api, raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    body = raw.replace("KEY", api.keys["any"])
    status, answer = await api.send(data=body, headers={"Content-Type": "application/json"})
    assert (status, answer["status_code"], answer["status"]) == (400, "5", "param_error")
    assert "refused" in caplog.text and await job_count(api) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=",
        "multipart/form-data",
        'multipart/form-data; boundary=""',
    ],
)
async def test_multipart_without_a_boundary_is_a_param_error(api: Api, content_type: str) -> None:
    status, answer = await api.send(
        data=b"--\r\nContent-Disposition: form-data; name=to\r\n\r\n1\r\n----\r\n",
        headers={"Content-Type": content_type},
    )
    assert (status, answer["status_code"]) == (400, "5"), answer


async def test_a_pool_without_devices_says_so(api: Api) -> None:
    status, body = await api.send(json={**api.ok("other_pin"), "pin": "9999"})
    assert status == 200 and body["devices_available"] == 0 and body["records"] == []
    queued = await api.store.read(jobs.queued_jobs)
    assert [j.job_id for j in queued] == [body["job_id"]]


async def test_the_operator_sees_refusals(api: Api, tmp_path: Path) -> None:
    await api.send(json=api.ok(to="+39899123456"))
    result = CliRunner().invoke(main, ["jobs", "--refused", "--db", str(api.store.path)])
    assert result.exit_code == 0, result.output
    assert "1 premium_rate" in result.output and "+39899123456" in result.output


async def test_wrong_keys_are_throttled_per_address(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = {**api.ok(), "apikey": "mdk_guessguessguessguessguess"}
    statuses = [(await api.send(json=wrong))[0] for _ in range(10)]
    assert statuses == [401] * 10
    async with api.session.post(api.url + "/api/v1/send", json=wrong) as r:
        body = await r.json()
        assert (r.status, body["status"]) == (429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
    status, body = await api.send(json=api.ok())  # the right key from there waits too
    assert status == 429
    assert "failed authentications from 127.0.0.1: throttled" in caplog.text


async def test_same_idempotency_key_other_timing_is_a_conflict(api: Api) -> None:
    headers = {"Idempotency-Key": "timed-1"}
    assert (await api.send(json=api.ok(), headers=headers))[0] == 200
    status, body = await api.send(json=api.ok(ttl=600), headers=headers)
    assert (status, body["status_code"]) == (422, "12"), body
