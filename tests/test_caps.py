"""Caps follow the SIM (ICCID), and pools and keys have their own: emulated modems on real
ptys, workers sending through them into a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from hardware.testbed import until

from modemd import caps
from modemd.caps import NO_CAPS, Caps, CapsPolicy, PoolCaps, Usage
from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.profile import ModemProfile, emulated_identity
from modemd.model import NO_PACING, DeviceState, JobState, Pacing
from modemd.runtime.pool import PoolQueue
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices, jobs, keys
from modemd.store import pacing as pacing_rows
from modemd.store.db import Store

FAST = Timeouts(command_s=0.5, prompt_s=0.5, cmgs_s=5.0, registration_s=1.0, wake_s=0.3)
PIN = "4711"
MODEM_A, MODEM_B = emulated_identity(101), emulated_identity(102)
SIM_X, SIM_Y = emulated_identity(201).iccid, emulated_identity(202).iccid


@contextlib.asynccontextmanager
async def running(
    store: Store,
    pool: PoolQueue,
    imei: str,
    iccid: str,
    *,
    pacing: Pacing = NO_PACING,
    pool_caps: Caps = NO_CAPS,
) -> AsyncIterator[DeviceWorker]:
    """Modem ``imei`` holding SIM ``iccid``, attached as the bank does, its worker running."""
    identity = emulated_identity(0)
    modem = EmulatedModem(
        ModemProfile(imei=imei, imsi=identity.imsi, iccid=iccid, send_latency_s=(0.0, 0.01)),
        name=f"emu {imei[-4:]}",
    )
    await modem.start()
    driver = SerialAtDriver(modem.port, PIN, timeouts=FAST)
    info = await driver.open()
    assert info.iccid == iccid
    await store.write(devices.upsert_device, info, DeviceState.READY)
    worker = DeviceWorker(
        driver, pool, store, pacing=pacing, pool_caps=pool_caps, health_interval_s=0.2
    )
    task = asyncio.create_task(worker.run(), name=f"worker {imei}")
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await driver.close()
        await modem.close()


async def submit(store: Store, pool: PoolQueue, n: int, parts: int = 1) -> list[str]:
    key, _ = await store.write(keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None)
    ids = []
    for i in range(n):
        job = await store.write(
            jobs.insert_job,
            key_id=key.key_id,
            pin=PIN,
            to=f"+3161234{i:04d}",
            message="hi",
            parts=parts,
            encoding="gsm7",
        )
        pool.put(job)
        ids.append(job.job_id)
    return ids


async def states(store: Store, ids: list[str]) -> list[JobState]:
    return [(await store.read(jobs.get_job, i)).state for i in ids]


async def sent_count(store: Store, ids: list[str]) -> int:
    return sum(s is JobState.SENT for s in await states(store, ids))


async def sent(store: Store, ids: list[str], n: int) -> None:
    """Wait until ``n`` of the jobs are recorded sent (generous: the machine may be loaded)."""
    async with asyncio.timeout(30):
        while await sent_count(store, ids) < n:
            await asyncio.sleep(0.02)


async def test_a_sim_moved_to_another_modem_keeps_its_count(store: Store) -> None:
    pool = PoolQueue(PIN)
    capped = Pacing(daily_cap=2)
    ids = await submit(store, pool, 3)
    async with running(store, pool, MODEM_A.imei, SIM_X, pacing=capped) as worker:
        await until(lambda: worker.state is DeviceState.BACKING_OFF and len(pool) == 1)
        assert worker.life.reason == f"SIM {SIM_X} daily cap of 2 SMS reached"
        assert await sent_count(store, ids) == 2
    # SIM X in modem B: still at its cap, B takes no job.
    async with running(store, pool, MODEM_B.imei, SIM_X, pacing=capped) as worker:
        await until(lambda: worker.state is DeviceState.BACKING_OFF)
        assert worker.life.reason == f"SIM {SIM_X} daily cap of 2 SMS reached"
        assert len(pool) == 1 and await sent_count(store, ids) == 2
    # A new SIM Y in modem A starts fresh: it sends the job left over.
    async with running(store, pool, MODEM_A.imei, SIM_Y, pacing=capped):
        await sent(store, ids, 3)
    window = caps.window()
    x = await store.read(pacing_rows.sim_usage, SIM_X, MODEM_B.imei, window)
    y = await store.read(pacing_rows.sim_usage, SIM_Y, MODEM_A.imei, window)
    assert (x, y) == (Usage(2, 2), Usage(1, 1))


async def test_a_capped_pool_stops_every_device_and_jobs_wait(store: Store) -> None:
    pool = PoolQueue(PIN)
    limit = Caps(daily=3)
    ids = await submit(store, pool, 5)
    async with (
        running(store, pool, MODEM_A.imei, SIM_X, pool_caps=limit) as a,
        running(store, pool, MODEM_B.imei, SIM_Y, pool_caps=limit) as b,
    ):
        await until(
            lambda: a.state is DeviceState.BACKING_OFF and b.state is DeviceState.BACKING_OFF
        )
        # Checked in each claim's transaction, sends in flight counted: never passed.
        assert await sent_count(store, ids) == 3
        assert a.life.reason == b.life.reason == f"pool {PIN} daily cap of 3 SMS reached"
        left = await states(store, ids)
        assert left.count(JobState.QUEUED) == 5 - await sent_count(store, ids) == len(pool)


async def test_a_capped_device_takes_no_job_and_the_others_send(store: Store) -> None:
    pool = PoolQueue(PIN)
    ids = await submit(store, pool, 1)
    async with running(store, pool, MODEM_A.imei, SIM_X):
        await sent(store, ids, 1)
    ids += await submit(store, pool, 4)
    async with (
        running(store, pool, MODEM_A.imei, SIM_X, pacing=Pacing(daily_cap=1)) as capped,
        running(store, pool, MODEM_B.imei, SIM_Y) as free,
    ):
        await sent(store, ids, 5)
        assert capped.state is DeviceState.BACKING_OFF
        assert capped.life.reason == f"SIM {SIM_X} daily cap of 1 SMS reached"
        assert "cap" not in free.life.reason
    sent_by = [(await store.read(jobs.get_job, i)).device_id for i in ids]
    assert sent_by == [MODEM_A.imei] + [MODEM_B.imei] * 4


def test_caps_view_says_what_stops_a_device() -> None:
    policy = CapsPolicy(
        lambda _imei, iccid: Pacing(daily_cap=5 if iccid == SIM_X else None),
        PoolCaps({PIN: Caps(monthly=10)}, {PIN: Caps(daily=1)}),
    )
    now = datetime(2026, 3, 14, 15, 9).astimezone()
    window = caps.window(now)
    row = {"device_id": MODEM_A.imei, "iccid": SIM_X, "pin": PIN}
    view = policy.view(row, Usage(5, 7), Usage(5, 9), window)
    assert view["capped"] == "SIM daily cap of 5 SMS reached"
    assert view["sim_caps"] == {
        "sent_today": 5,
        "daily_cap": 5,
        "sent_month": 7,
        "monthly_cap": None,
    }
    assert view["capped_until"] == window.day_end.isoformat(timespec="seconds")
    pool_full = policy.view({**row, "iccid": SIM_Y}, Usage(5, 7), Usage(1, 10), window)
    assert pool_full["capped"] == f"pool {PIN} monthly cap of 10 SMS reached"
    assert window.month_end == datetime(2026, 4, 1).astimezone()
    assert policy.view({**row, "iccid": SIM_Y}, Usage(5, 7), Usage(1, 9), window)["capped"] is None
    assert policy.key(PIN) == Caps(daily=1) and policy.key("other") == Caps()


@pytest.mark.parametrize(
    ("used", "adding", "period"),
    [
        (Usage(0, 0), 0, None),
        (Usage(4, 4), 1, None),
        (Usage(4, 4), 2, "daily"),
        (Usage(1, 20), 1, "monthly"),
    ],
)
def test_reached_counts_the_parts_being_added(used: Usage, adding: int, period: str | None) -> None:
    window = caps.window(datetime(2026, 12, 31, 23, 59).astimezone())
    assert window.month_end == datetime(2027, 1, 1).astimezone()
    assert window.day_end - window.day_start <= timedelta(hours=25)
    hit = caps.reached(Caps(daily=5, monthly=20), used, window, adding)
    assert (hit.period if hit else None) == period
