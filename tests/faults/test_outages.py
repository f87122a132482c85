"""Faults around the daemon: the IPN receiver down for a while; the disk full under the API."""

from __future__ import annotations

import asyncio
import random
import socket
from collections import defaultdict
from typing import Any

import aiohttp
import pytest
from builders import tp_report

from modemd.api.app import create_app, start_site
from modemd.api.listener import start_listener
from modemd.model import SentPart
from modemd.runtime.bank import Bank
from modemd.store import jobs, keys, reports
from modemd.store.db import Store
from modemd.webhooks.sender import IpnSender

JOBS = 20


async def test_receiver_down_then_back_gets_everything_in_order(store: Store) -> None:
    with socket.socket() as s:  # a port nobody listens on yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key, _ = await store.write(
        keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=f"http://127.0.0.1:{port}/ipn"
    )
    job_ids = []
    for n in range(JOBS):
        job = await store.write(
            jobs.insert_job,
            key_id=key.key_id,
            pin="1",
            to=f"+1555{n:04d}",
            message="m",
            parts=1,
            encoding="gsm7",
        )
        claimed = await store.write(jobs.claim_job, job.job_id, "imei")
        await store.write(jobs.mark_sent, claimed, [SentPart(1, n)])
        await store.write(reports.apply_report, "imei", tp_report(n, f"+1555{n:04d}", 0))
        job_ids.append(job.job_id)
    sender = IpnSender(store, rng=random.Random(2), schedule=(0.05, 0.1, 0.2))
    store.on_commit.append(sender.wake)
    task = asyncio.create_task(sender.run(), name="ipn sender")
    received: dict[str, list[str]] = defaultdict(list)
    done = asyncio.Event()

    def on_ipn(body: dict[str, Any], headers: dict[str, str]) -> None:
        received[body["data"]["job_id"]].append(body["type"])
        if sum(map(len, received.values())) == 2 * JOBS:
            done.set()

    try:
        await asyncio.sleep(0.5)  # the receiver is down: attempts fail, events wait
        assert not received
        runner, _ = await start_listener(on_ipn, port=port)
        try:
            await asyncio.wait_for(done.wait(), 20)
        finally:
            await runner.cleanup()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.on_commit.remove(sender.wake)
    assert set(received) == set(job_ids)
    assert all(types == ["sms.sent", "sms.delivered"] for types in received.values())
    failed_attempts = await store.read(
        lambda db: db.execute(
            "SELECT count(*) FROM event_attempts WHERE http_status IS NULL"
        ).fetchone()[0]
    )
    assert failed_attempts >= 1


@pytest.mark.sqlite_only  # the file is made full with PRAGMA max_page_count
async def test_full_disk_is_a_clear_error_and_loses_nothing(store: Store) -> None:
    bank = Bank(store)
    await bank.start()
    _, secret = await store.write(
        keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=None
    )
    runner, port = await start_site(create_app(store, bank), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/api/v1/send"
    payload = {"apikey": secret, "to": "+15550001", "msg": "x" * 1000}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=payload) as r:
                assert r.status == 200
                first = (await r.json())["job_id"]
            # The file may not grow any more: SQLite answers SQLITE_FULL, as on a full disk.
            await store.write(
                lambda db: db.execute(
                    "PRAGMA max_page_count = " + str(db.execute("PRAGMA page_count").fetchone()[0])
                )
            )
            statuses = []
            for _ in range(30):
                async with session.post(url, json=payload) as r:
                    statuses.append((r.status, await r.json()))
            refused = [body for status, body in statuses if status == 503]
            assert refused, "the database never filled up"
            assert all(
                b["response"] == "503" and "nothing was accepted" in b["message"] for b in refused
            )
            accepted = [body["job_id"] for status, body in statuses if status == 200]
            await store.write(lambda db: db.execute("PRAGMA max_page_count = 1073741823"))
            async with session.post(url, json=payload) as r:
                assert r.status == 200  # room again: accepting again
    finally:
        await runner.cleanup()
        await bank.close()
    ids = await store.read(lambda db: [r[0] for r in db.execute("SELECT job_id FROM jobs")])
    assert first in ids and set(accepted) <= set(ids)  # every 200 is on disk
    assert len(ids) == 2 + len(accepted)  # and nothing refused was half-written
    integrity = await store.read(lambda db: db.execute("PRAGMA integrity_check").fetchone()[0])
    assert integrity == "ok"
