"""POST /api/v1/send with several recipients: one job each with its own code; a malformed
field or too little credit for all of them refuses the whole request and writes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from builders import dump

from modemd.store import optouts, wallet

from .conftest import PIN, SPEC, Rig

pytestmark = pytest.mark.both_engines  # store promises hold on SQLite and PostgreSQL


SEND = "/api/v1/send"


async def _send(rig: Rig, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with rig.session.post(rig.url + SEND, **kwargs) as r:
        answer = await r.json()
    SPEC.check(SEND, "post", r.status, "application/json", answer)
    return r.status, answer


async def test_each_recipient_gets_its_own_job_or_refusal(rig: Rig) -> None:
    good = ["+393331110001", "+393331110002", "+393331110003"]
    await rig.store.write(optouts.set_opt_out, PIN, "+393331110009", True, source="api")
    status, answer = await _send(
        rig,
        json={
            "apikey": rig.apikey,
            "to": [*good, "+393331110009", "+39899123456"],
            "msg": "hello all",
        },
    )
    assert status == 200 and answer["status_code"] == "2"
    codes = [(r["to"], r["status_code"], r["job_id"] is not None) for r in answer["results"]]
    assert codes == [
        *((n, "2", True) for n in good),
        ("+393331110009", "10", False),
        ("+39899123456", "11", False),
    ]
    async with asyncio.timeout(30):
        while len(rig.sent_numbers()) < len(good):
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert Counter(rig.sent_numbers()) == Counter(good)
    # Comma-separated, form-encoded, the '+' written as such: the same.
    status, answer = await _send(
        rig, data={"apikey": rig.apikey, "to": "+393331110004, +393331110005", "msg": "hi"}
    )
    assert status == 200 and [r["status_code"] for r in answer["results"]] == ["2", "2"]


async def test_a_bad_number_or_too_little_credit_refuses_everything(rig: Rig) -> None:
    before = await rig.store.read(dump)
    status, answer = await _send(
        rig, json={"apikey": rig.apikey, "to": ["+393331110001", "+39abc"], "msg": "m"}
    )
    assert status == 400 and answer["status_code"] == "5" and "'to'[1]" in answer["message"]
    status, answer = await _send(
        rig, json={"apikey": rig.apikey, "to": ["+393331110001"] * 1001, "msg": "m"}
    )
    assert status == 400 and "1 to 1000" in answer["message"]
    assert await rig.store.read(dump) == before
    await rig.store.write(wallet.set_price, "*", 1000)
    await rig.store.write(wallet.topup, rig.key_id, 1500)  # one message, not two
    before = await rig.store.read(dump)
    status, answer = await _send(
        rig, json={"apikey": rig.apikey, "to": ["+393331110001", "+393331110002"], "msg": "m"}
    )
    assert status == 402 and answer["status_code"] == "9"
    assert await rig.store.read(dump) == before
    assert rig.sent_numbers() == []


async def test_an_idempotency_key_covers_the_whole_request(rig: Rig) -> None:
    numbers = ["+393331120001", "+393331120002", "+393331120009"]
    await rig.store.write(optouts.set_opt_out, PIN, numbers[2], True, source="api")
    request = {"apikey": rig.apikey, "to": numbers, "msg": "order 77 shipped"}
    headers = {"Idempotency-Key": "order-77-batch"}
    status, first = await _send(rig, json=request, headers=headers)
    assert status == 200 and "idempotent_replay" not in first
    assert [r["status_code"] for r in first["results"]] == ["2", "2", "10"]
    # The number opts back in: the retry still answers what the first request got.
    await rig.store.write(optouts.set_opt_out, PIN, numbers[2], False, source="api")
    status, again = await _send(rig, json=request, headers=headers)
    assert status == 200 and again["idempotent_replay"] is True
    firsts = [(r["to"], r["job_id"], r["status_code"], r["status"]) for r in first["results"]]
    assert [
        (r["to"], r["job_id"], r["status_code"], r["status"]) for r in again["results"]
    ] == firsts
    assert all(r["records"] == [] for r in again["results"])  # nothing offered again
    assert {r.get("state") for r in again["results"][:2]} <= {"queued", "sending", "sent"}
    # Form clients give the key as a field; commas instead of a list are the same request.
    form = {"apikey": rig.apikey, "to": ",".join(numbers), "msg": "order 77 shipped"}
    status, third = await _send(rig, data={**form, "idempotency_key": "order-77-batch"})
    assert status == 200 and [r["job_id"] for r in third["results"]] == [f[1] for f in firsts]
    async with asyncio.timeout(30):
        while len(rig.sent_numbers()) < 2:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert Counter(rig.sent_numbers()) == Counter(numbers[:2])  # each once
    # Another request under the key: a conflict, nothing written; so is one recipient.
    before = await rig.store.read(lambda db: db.execute("SELECT count(*) FROM jobs").fetchone())
    for other in (
        {**request, "to": numbers[:2]},
        {**request, "msg": "order 78 shipped"},
        {**request, "to": numbers[0]},
    ):
        status, answer = await _send(rig, json=other, headers=headers)
        assert (status, answer["status_code"], answer["status"]) == (
            422,
            "12",
            "idempotency_conflict",
        ), other
    after = await rig.store.read(lambda db: db.execute("SELECT count(*) FROM jobs").fetchone())
    assert after == before
    # A one-recipient key is not a batch's either.
    one = {"Idempotency-Key": "order-79"}
    assert (await _send(rig, json={**request, "to": numbers[0]}, headers=one))[0] == 200
    status, answer = await _send(rig, json=request, headers=one)
    assert (status, answer["status_code"]) == (422, "12")
