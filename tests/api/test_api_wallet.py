"""Credit: prices per destination and per part, reserve at accept (code 9 when short), charge
when sent, refund when it failed before the network; the balance is the ledger's sum."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_harness import ADMIN, Api
from click.testing import CliRunner

from modemd.cli import main
from modemd.model import SentPart
from modemd.store import jobs, wallet
from modemd.store.db import Store

pytestmark = pytest.mark.both_engines  # store promises hold on SQLite and PostgreSQL


async def fund(api: Api, key: str, amount: str, prices: dict[str, str]) -> None:
    key_id = api.key_ids[key]
    for where, price in prices.items():
        await api.store.write(wallet.set_price, where, wallet.parse_amount(price))
    await api.store.write(wallet.topup, key_id, wallet.parse_amount(amount), "test")


async def ledger(store: Store, key_id: int) -> list[tuple[str, int]]:
    rows = await store.read(wallet.ledger_rows, key_id, 100)
    return [(r["kind"], r["amount"]) for r in reversed(rows)]


@pytest.mark.parametrize(
    ("number", "country", "price"),
    [
        ("+393331234567", "IT", 500),  # '+3933' beats '+39' beats 'IT'
        ("+390612345678", "IT", 700),
        ("+4930123456", "DE", 900),  # country
        ("+15550001", "US", 1000),  # '*'
        ("4916", None, 1000),
    ],
)
async def test_price_lookup(store: Store, number: str, country: str | None, price: int) -> None:
    for where, per_part in (("+3933", 500), ("+39", 700), ("DE", 900), ("IT", 800), ("*", 1000)):
        await store.write(wallet.set_price, where, per_part)
    assert await store.read(wallet.price_per_part, number, country) == price


def test_amounts() -> None:
    assert wallet.parse_amount("1.25") == 12500 and wallet.format_amount(-12500) == "-1.2500"
    for bad in ("1.00001", "nan", "inf", "1e30", "abc", ""):
        with pytest.raises(ValueError):
            wallet.parse_amount(bad)


async def test_reserve_charge_and_balance(api: Api) -> None:
    await fund(api, "local", "1.00", {"+39": "0.30"})
    key_id = api.key_ids["local"]
    status, body = await api.send(json=api.ok(msg="x" * 200))  # 2 parts: 0.60
    assert status == 200 and body["cost"] == "0.6000"
    status, balance = await api.get("/api/v1/balance", params={"apikey": api.keys["local"]})
    assert status == 200 and balance == {
        "response": "200",
        "enabled": True,
        "balance": "0.4000",
        "reserved": "0.6000",
        "spent": "0.0000",
    }
    before = await api.dump()
    status, body = await api.send(json=api.ok())  # 0.30 < 0.40 ok; then 0.10 left
    assert status == 200
    status, body = await api.send(json=api.ok())
    assert (status, body["status_code"], body["status"]) == (402, "9", "balance_error")
    assert await api.job_count() == 2 and len(await api.dump()) == len(before) + 2
    first = await api.store.read(jobs.list_jobs)
    job = await api.store.read(jobs.get_job, first[-1]["job_id"])
    claimed = await api.store.write(jobs.claim_job, job.job_id, "imei1")
    await api.store.write(jobs.mark_sent, claimed, [SentPart(1, 1), SentPart(2, 2)])
    assert (await ledger(api.store, key_id))[-2:] == [("release", 6000), ("charge", -6000)]
    found = await api.store.read(wallet.balance, key_id)
    assert (found.available, found.reserved, found.spent) == (1000, 3000, 6000)


async def test_refund_when_nothing_reached_the_network(api: Api) -> None:
    await fund(api, "any", "1.00", {"*": "0.25"})
    key_id = api.key_ids["any"]
    _, body = await api.send(json=api.ok("any"))
    job = await api.store.read(jobs.get_job, body["job_id"])
    claimed = await api.store.write(jobs.claim_job, job.job_id, "imei1")
    requeued = await api.store.write(jobs.requeue, claimed, "busy")  # still held
    assert (await api.store.read(wallet.balance, key_id)).reserved == 2500
    again = await api.store.write(jobs.claim_job, requeued.job_id, "imei2")
    await api.store.write(jobs.mark_failed, again, "+CMS ERROR: 500", 500)
    assert await ledger(api.store, key_id) == [
        ("topup", 10000),
        ("reserve", -2500),
        ("refund", 2500),
    ]
    assert (await api.store.read(wallet.balance, key_id)).available == 10000


async def test_unknown_outcome_is_charged(api: Api) -> None:
    await fund(api, "any", "1.00", {"*": "0.25"})
    _, body = await api.send(json=api.ok("any"))
    job = await api.store.read(jobs.get_job, body["job_id"])
    claimed = await api.store.write(jobs.claim_job, job.job_id, "imei1")
    await api.store.write(jobs.mark_unknown, claimed, "timeout after Ctrl-Z")
    found = await api.store.read(wallet.balance, api.key_ids["any"])
    assert (found.available, found.reserved, found.spent) == (7500, 0, 2500)


async def test_no_wallet_no_ledger(api: Api) -> None:
    await api.store.write(wallet.set_price, "*", 1000)  # prices alone change nothing
    status, body = await api.send(json=api.ok())
    assert status == 200 and "cost" not in body
    job = await api.store.read(jobs.get_job, body["job_id"])
    claimed = await api.store.write(jobs.claim_job, job.job_id, "imei1")
    await api.store.write(jobs.mark_sent, claimed, [SentPart(1, 7)])
    assert await api.store.read(lambda db: db.table("ledger").count) == 0
    _, balance = await api.get("/api/v1/balance", params={"apikey": api.keys["local"]})
    assert balance["enabled"] is False and balance["balance"] == "0.0000"


async def test_admin_topup_and_prices(api: Api) -> None:
    key_id = api.key_ids["any"]
    async with api.session.post(
        f"{api.url}/admin/v1/prices", json={"destination": "it", "per_part": "0.05"}, headers=ADMIN
    ) as r:
        assert r.status == 200 and (await r.json())["prices"][0]["destination"] == "IT"
    async with api.session.post(
        f"{api.url}/admin/v1/keys/{key_id}/topup", json={"amount": "2.50"}, headers=ADMIN
    ) as r:
        shown = await r.json()
    assert shown["enabled"] and shown["balance"] == "2.5000"
    async with api.session.post(
        f"{api.url}/admin/v1/keys/{key_id}/topup", json={"amount": "-1"}, headers=ADMIN
    ) as r:
        assert r.status == 400
    async with api.session.post(
        f"{api.url}/admin/v1/keys/999/topup", json={"amount": "1"}, headers=ADMIN
    ) as r:
        assert r.status == 404


def test_cli_wallet(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    run = CliRunner()
    assert (
        run.invoke(main, ["keys", "create", "--pin", "7", "--over-ip", "--db", db]).exit_code == 0
    )
    shown = run.invoke(main, ["wallet", "show", "1", "--db", db])
    assert "no wallet" in shown.output
    topped = run.invoke(main, ["wallet", "topup", "1", "12.5", "--note", "invoice 7", "--db", db])
    assert topped.exit_code == 0 and "balance 12.5000" in topped.output
    shown = run.invoke(main, ["wallet", "show", "1", "--db", db])
    assert "balance 12.5000" in shown.output and "invoice 7" in shown.output
    assert run.invoke(main, ["wallet", "price", "+39", "0.05", "--db", db]).exit_code == 0
    assert "+39" in run.invoke(main, ["wallet", "prices", "--db", db]).output
    bad = run.invoke(main, ["wallet", "price", "Italy", "0.05", "--db", db])
    assert bad.exit_code == 2 and "DESTINATION" in bad.output
    assert run.invoke(main, ["wallet", "topup", "9", "1", "--db", db]).exit_code == 1
    assert run.invoke(main, ["wallet", "topup", "1", "-1", "--db", db]).exit_code == 2
