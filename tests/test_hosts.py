"""Hosts sharing one PostgreSQL database, at the store: heartbeats, the takeover after a dead
host (once, whoever notices), claims and IPN leases that two hosts take at the same moment, and
``modemd db migrate`` / ``db check``."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from builders import DEVICE, key_and_job
from click.testing import CliRunner

from modemd.cli import main
from modemd.model import DeviceInfo, DeviceKind, DeviceState, JobState
from modemd.store import devices, dispatch, events, hosts, jobs
from modemd.store.db import Store, connect


def info(device_id: str) -> DeviceInfo:
    return DeviceInfo(device_id=device_id, pin="1", kind=DeviceKind.MODEM, port="/dev/x")


async def test_a_dead_hosts_sending_jobs_become_unknown_once(pg_url: str) -> None:
    first, second = Store(pg_url, host_id="a"), Store(pg_url, host_id="b")
    await first.start()
    await second.start()
    try:
        _, _, job = await key_and_job(first, "http://127.0.0.1:9/ipn")
        _, _, queued = await key_and_job(first, None)
        await first.write(devices.upsert_device, info(DEVICE), DeviceState.READY, "a")
        await first.write(hosts.beat, "a", [DEVICE])
        await first.write(jobs.claim_job, job.job_id, DEVICE)
        await second.write(hosts.beat, "b", [])
        assert await second.write(hosts.take_over_dead, "b", 30.0) == []  # a is alive
        await first.write(lambda db: db.execute("UPDATE hosts SET heartbeat_at = 0"))
        await second.write(hosts.beat, "b", [])
        taken = [await second.write(hosts.take_over_dead, "b", 30.0) for _ in range(2)]
        assert taken == [["a"], []]  # once
        moved = await second.read(jobs.get_job, job.job_id)
        assert moved is not None and moved.state is JobState.UNKNOWN
        assert "host a" in (moved.error or "")
        assert [e["type"] for e in await second.read(events.list_events, job.job_id)] == [
            "sms.unknown"
        ]
        still = await second.read(jobs.get_job, queued.job_id)  # queued work is anyone's
        assert still is not None and still.state is JobState.QUEUED
        gone = await second.read(lambda db: db.execute("SELECT state FROM devices").fetchall())
        assert gone == [("gone",)]
        alive = await second.read(hosts.live_hosts, 30.0)
        assert [h["host_id"] for h in alive] == ["b"]
        await first.write(hosts.beat, "a", [DEVICE])  # it came back: alive again
        assert [h["host_id"] for h in await second.read(hosts.live_hosts, 30.0)] == ["a", "b"]
    finally:
        await first.close()
        await second.close()


async def test_hosts_claiming_one_job_at_once_get_it_once(pg_url: str) -> None:
    store = Store(pg_url, host_id="a")
    await store.start()
    try:
        queued = [(await key_and_job(store, None))[2] for _ in range(3)]
    finally:
        await store.close()
    conns = [connect(pg_url) for _ in range(4)]

    def claim(index: int) -> list[str]:
        db = conns[index]
        db.execute("BEGIN")
        got = [j.job_id for j in queued if jobs.claim_job(db, j.job_id, f"dev{index}")]
        time.sleep(0.2)  # hold the row locks while the others try
        db.execute("COMMIT")
        return got

    with ThreadPoolExecutor(4) as pool:
        claimed = [job for got in pool.map(claim, range(4)) for job in got]
    for db in conns:
        db.close()
    assert sorted(claimed) == sorted(j.job_id for j in queued)


async def test_an_ipn_is_leased_to_one_host(pg_url: str) -> None:
    store = Store(pg_url, host_id="a")
    await store.start()
    try:
        _, _, job = await key_and_job(store, "http://127.0.0.1:9/ipn")
        claimed = await store.write(jobs.claim_job, job.job_id, DEVICE)
        await store.write(jobs.mark_unknown, claimed, "x")
        now = time.time()
        first = await store.write(events.take_due_events, now, "a", 60.0)
        second = await store.write(events.take_due_events, now, "b", 60.0)
        assert len(first) == 1 and second == []
        assert await store.read(events.next_due_at, "b") == pytest.approx(now + 60.0)
        later = await store.write(events.take_due_events, now + 61.0, "b", 60.0)  # a died
        assert [e.event_id for e in later] == [first[0].event_id]  # the same webhook-id
        await store.write(
            events.record_attempt,
            first[0].event_id,
            http_status=200,
            error=None,
            delivered=True,
            next_attempt_at=None,
        )
        assert await store.write(events.take_due_events, now + 200.0, "a", 60.0) == []
    finally:
        await store.close()


def test_db_migrate_and_check(pg_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    for db in (pg_url, str(tmp_path / "m.db")):
        fresh = runner.invoke(main, ["db", "migrate", "--db", db])
        assert fresh.exit_code == 0 and "applied" in fresh.output, fresh.output
        again = runner.invoke(main, ["db", "migrate", "--db", db])
        assert "already up to date" in again.output
        checked = runner.invoke(main, ["db", "check", "--db", db])
        assert checked.exit_code == 0 and "reachable" in checked.output, checked.output
    assert "single host" in checked.output
    database = connect(pg_url)
    hosts.beat(database, "cupboard-2", [])
    checked = runner.invoke(main, ["db", "check", "--db", pg_url])
    assert "hosts alive (heard within 30 s): 1" in checked.output
    assert "cupboard-2: 0 devices" in checked.output
    database.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    database.close()
    newer = runner.invoke(main, ["db", "check", "--db", pg_url])
    assert newer.exit_code == 1 and "upgrade modemd" in newer.output


async def test_a_job_another_host_claimed_is_replaced_by_the_next(pg_url: str) -> None:
    store = Store(pg_url, host_id="a")
    await store.start()
    try:
        first, second = [(await key_and_job(store, None))[2] for _ in range(2)]
        await store.write(jobs.claim_job, first.job_id, "other-host-device")
        claimed = await store.write(dispatch.claim_for, first.job_id, DEVICE, None)
        assert claimed is not None and claimed.job_id == second.job_id
        assert claimed.state is JobState.SENDING and claimed.device_id == DEVICE
        assert await store.write(dispatch.claim_for, first.job_id, DEVICE, None) is None
    finally:
        await store.close()


async def test_a_job_queued_on_one_host_wakes_the_others(pg_url: str) -> None:
    a, b = Store(pg_url, host_id="a"), Store(pg_url, host_id="b")
    woken: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}
    a.on_queue_notify.append(woken["a"].set)
    b.on_queue_notify.append(woken["b"].set)
    await a.start()
    await b.start()
    try:
        async with asyncio.timeout(30):  # each listener wakes once when it starts listening
            await woken["a"].wait()
            await woken["b"].wait()
        woken["a"].clear()
        woken["b"].clear()
        await key_and_job(b, None)  # committed on b: NOTIFY with b's id
        async with asyncio.timeout(30):
            await woken["a"].wait()
        await a.write(lambda db: None)  # a's own round trip: b's notice had time to come
        assert not woken["b"].is_set()  # its own commit does not wake it
    finally:
        await a.close()
        await b.close()
