"""IPN dead letters, replay and operator retry over the HTTP API (a real socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from builders import key_and_job

from modemd.api.app import create_app, start_site
from modemd.model import JobState, SentPart
from modemd.runtime.bank import Bank
from modemd.store import events, jobs, keys
from modemd.store.db import Store


@pytest.fixture
async def api(store: Store) -> AsyncIterator[dict[str, Any]]:
    bank = Bank(store)
    await bank.start()
    runner, port = await start_site(create_app(store, bank), "127.0.0.1", 0)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        yield {"session": session, "store": store, "bank": bank}
    await runner.cleanup()
    await bank.close()


async def key_with_dead_letter(store: Store) -> tuple[str, str, str]:
    _, secret, job = await key_and_job(store, "http://127.0.0.1:9/x", allow_ips=("127.0.0.1",))
    claimed = await store.write(jobs.claim_job, job.job_id, "imei")
    await store.write(jobs.mark_unknown, claimed, "timeout after Ctrl-Z")
    event_id = (await store.read(events.list_events, job.job_id))[0]["event_id"]
    await store.write(
        lambda db: db.execute("UPDATE events SET state = 'failed' WHERE event_id = ?", [event_id])
    )
    return secret, job.job_id, event_id


async def test_dead_letters_listed_and_replayed(api: dict[str, Any]) -> None:
    session, store = api["session"], api["store"]
    secret, _, event_id = await key_with_dead_letter(store)
    auth = {"Authorization": f"Bearer {secret}"}
    async with session.get("/api/v1/ipn?state=failed", headers=auth) as r:
        listed = await r.json()
    assert r.status == 200 and [e["event_id"] for e in listed["events"]] == [event_id]
    async with session.post(f"/api/v1/ipn/{event_id}/replay", headers=auth) as r:
        assert r.status == 200 and (await r.json())["replayed"] == [event_id]
    async with session.post(f"/api/v1/ipn/{event_id}/replay", headers=auth) as r:
        assert r.status == 404  # no longer a dead letter
    async with session.get("/api/v1/ipn?state=pending", headers=auth) as r:
        assert [e["event_id"] for e in (await r.json())["events"]] == [event_id]


async def test_replay_by_range_and_bad_input(api: dict[str, Any]) -> None:
    session, store = api["session"], api["store"]
    secret, _, event_id = await key_with_dead_letter(store)
    auth = {"Authorization": f"Bearer {secret}"}
    async with session.post(
        "/api/v1/ipn/replay?since=2000-01-01T00:00:00&until=2001-01-01", headers=auth
    ) as r:
        assert (await r.json())["replayed"] == []
    async with session.post("/api/v1/ipn/replay?since=yesterday", headers=auth) as r:
        assert r.status == 400
    async with session.get("/api/v1/ipn?state=bogus", headers=auth) as r:
        assert r.status == 400
    async with session.post("/api/v1/ipn/replay?since=0", headers=auth) as r:
        assert (await r.json())["replayed"] == [event_id]
    async with session.get("/api/v1/ipn") as r:
        assert r.status == 401


async def test_other_keys_cannot_touch_my_events_or_jobs(api: dict[str, Any]) -> None:
    session, store = api["session"], api["store"]
    _, job_id, event_id = await key_with_dead_letter(store)
    _, other = await store.write(keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=None)
    auth = {"Authorization": f"Bearer {other}"}
    async with session.post(f"/api/v1/ipn/{event_id}/replay", headers=auth) as r:
        assert r.status == 404
    async with session.post(f"/api/v1/jobs/{job_id}/retry", headers=auth) as r:
        assert r.status == 404


async def test_operator_retry_requeues_an_unknown_job(api: dict[str, Any]) -> None:
    session, store, bank = api["session"], api["store"], api["bank"]
    secret, job_id, _ = await key_with_dead_letter(store)
    auth = {"Authorization": f"Bearer {secret}"}
    async with session.post(f"/api/v1/jobs/{job_id}/retry", headers=auth) as r:
        body = await r.json()
    assert r.status == 200 and body["state"] == "queued"
    assert (await store.read(jobs.get_job, job_id)).state is JobState.QUEUED
    assert len(bank.pool("1")) == 1
    async with session.post(f"/api/v1/jobs/{job_id}/retry", headers=auth) as r:
        assert r.status == 409  # queued jobs are not "retried"
    claimed = await store.write(jobs.claim_job, job_id, "imei")
    await store.write(jobs.mark_sent, claimed, [SentPart(1, 1)])
