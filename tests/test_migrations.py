"""Upgrading real old databases: each ``tests/databases/schema_vN.db`` was written at schema
version N (``tests/databases/make.py``); opening it migrates it to today's schema with its keys,
jobs, events and ledger intact, and the daemon's code then works on it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from modemd.api import start_site
from modemd.store import Store, accept, connect, endpoints, events, jobs, wallet
from modemd.store.migrations import MIGRATIONS
from modemd.webhooks import IpnSender, verify

DATABASES = Path(__file__).parent / "databases"
FILES = sorted(DATABASES.glob("schema_v*.db"), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
LATEST = MIGRATIONS[-1][0]


def version_of(path: Path) -> int:
    return int(re.findall(r"\d+", path.name)[0])


def test_every_past_schema_version_has_a_database_file() -> None:
    # The newest migration may not have its file yet; every older one must (make.py N).
    have = {version_of(p) for p in FILES}
    assert set(range(1, LATEST)) <= have, "run: python tests/databases/make.py N"


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(params=FILES, ids=lambda p: p.stem)
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    copy = tmp_path / "modemd.db"
    shutil.copy(request.param, copy)
    return copy


def test_upgrade_keeps_jobs_events_and_ledger(old_db: Path) -> None:
    before_version = rows(old_db, "SELECT max(version) FROM schema_migrations")[0][0]
    jobs_before = rows(old_db, "SELECT job_id, state, to_number, message FROM jobs ORDER BY seq")
    events_before = rows(old_db, "SELECT event_id, state, payload FROM events ORDER BY seq")
    has_ledger = bool(rows(old_db, "SELECT name FROM sqlite_master WHERE name = 'ledger'"))
    ledger_before = rows(old_db, "SELECT * FROM ledger ORDER BY entry_id") if has_ledger else []

    db = connect(old_db)
    applied = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert applied == list(range(1, LATEST + 1)) and before_version <= LATEST
    assert [
        tuple(r) for r in db.execute("SELECT job_id, state, to_number, message FROM jobs")
    ] == jobs_before
    assert [
        tuple(r) for r in db.execute("SELECT event_id, state, payload FROM events ORDER BY seq")
    ] == events_before
    assert [tuple(r) for r in db.execute("SELECT * FROM ledger ORDER BY entry_id")][
        : len(ledger_before)
    ] == ledger_before
    assert [j.job_id for j in jobs.queued_jobs(db)] == ["job_old1"]
    assert jobs.get_job_detail(db, "job_old3")["part_details"][0]["state"] == "delivered"
    found = wallet.balance(db, 1)
    if has_ledger:  # 10.00 topped up, 0.05 charged, 0.05 held for the queued job
        assert (found.enabled, found.available, found.reserved, found.spent) == (
            True,
            99_000,
            500,
            500,
        )
    else:
        assert not found.enabled
    db.conn.close()


async def test_the_daemon_works_on_an_upgraded_database(old_db: Path) -> None:
    """A new send is accepted (priced when the old key had a wallet), the old pending IPN is
    posted signed, and the old dead letter can be replayed."""
    received: list[tuple[bytes, dict[str, str]]] = []

    async def ipn(request: web.Request) -> web.Response:
        received.append((await request.read(), dict(request.headers)))
        return web.Response()

    had_wallet = bool(rows(old_db, "SELECT name FROM sqlite_master WHERE name = 'wallets'"))
    app = web.Application()
    app.router.add_post("/ipn", ipn)
    runner, port = await start_site(app, "127.0.0.1", 0)
    store = Store(old_db)
    await store.start()
    sender = IpnSender(store, rng=random.Random(1), schedule=(0.05,))
    task = asyncio.create_task(sender.run(), name="ipn sender")
    try:
        url = f"http://127.0.0.1:{port}/ipn"
        await store.write(lambda db: db.execute("UPDATE api_keys SET ipn_url = ?", [url]))
        accepted = await store.write(
            accept.accept_send,
            key_id=1,
            pin="4711",
            to="+393331234567",
            message="after the upgrade",
            parts=1,
            encoding="gsm7",
            id_device=None,
            country="IT",
        )
        assert accepted.job.state.value == "queued"
        assert accepted.cost == (500 if had_wallet else None)
        sender.wake()
        async with asyncio.timeout(20):
            while not received:
                await asyncio.sleep(0.02)
        body, headers = received[0]
        assert headers["webhook-id"] == "evt_old1"
        endpoint = await store.read(endpoints.get_endpoint, 1)
        assert endpoint is not None
        assert verify(
            endpoint.secret,
            headers["webhook-id"],
            int(headers["webhook-timestamp"]),
            body,
            headers["webhook-signature"],
        )
        assert await store.write(events.replay, event_id="evt_old3") == ["evt_old3"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()
        await runner.cleanup()


def test_upgrade_gives_old_parts_the_iccid_of_their_device(tmp_path: Path) -> None:
    """Migration 11: caps follow the SIM; parts sent before it count for the SIM that their
    device holds at the upgrade (the best guess there is)."""
    copy = tmp_path / "modemd.db"
    shutil.copy(DATABASES / "schema_v10.db", copy)
    with contextlib.closing(sqlite3.connect(copy)) as conn, conn:
        conn.execute("UPDATE devices SET iccid = '8900101000000000017'")
    connect(copy).conn.close()
    assert rows(copy, "SELECT DISTINCT iccid FROM job_parts") == [("8900101000000000017",)]
