"""A worker stopped while its claim is being written (its device unplugged: the bank cancels a
worker holding no job yet) gives the job back to its pool, not only to the database: else the
job stays queued on disk and no device of the running pool ever takes it."""

from __future__ import annotations

import asyncio
import threading

from hardware.testbed import until

from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeviceState, JobState
from modemd.runtime.pool import PoolQueue
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices, jobs, keys
from modemd.store.db import Store

FAST = Timeouts(command_s=0.5, prompt_s=0.5, cmgs_s=5.0, registration_s=1.0, wake_s=0.3)


async def test_a_worker_cancelled_during_its_claim_puts_the_job_back_in_the_pool(
    store: Store,
) -> None:
    emulators = EmulatedBank.create(1, seed=9, profile_overrides={"send_latency_s": (0.0, 0.01)})
    await emulators.start()
    driver = SerialAtDriver(emulators.modems[0].port, "4711", timeouts=FAST)
    info = await driver.open()
    await store.write(devices.upsert_device, info, DeviceState.READY)
    key, _ = await store.write(
        keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
    )
    job = await store.write(
        jobs.insert_job, key_id=key.key_id, pin="4711", to="+31612340001", message="hi",
        parts=1, encoding="gsm7",
    )  # fmt: skip
    pool = PoolQueue("4711")
    worker = DeviceWorker(driver, pool, store, health_interval_s=30.0)
    task = asyncio.create_task(worker.run(), name="worker under test")
    gate = threading.Event()
    try:
        await until(lambda: pool.idle_devices() == [info.device_id])
        blocker = asyncio.ensure_future(store.write(lambda _db: gate.wait(30)))
        pool.put(job)  # the worker takes it; its claim waits behind the blocked writer
        await until(lambda: not pool.idle_devices() and len(pool) == 0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert worker.current is None  # claiming: what the bank cancels on an unplug
        task.cancel()
        gate.set()
        await blocker
        await asyncio.gather(task, return_exceptions=True)
        back = await store.read(jobs.get_job, job.job_id)
        assert back is not None and back.state is JobState.QUEUED
        assert pool.job_ids() == {job.job_id}  # a running pool's other devices can take it
    finally:
        gate.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await driver.close()
        await emulators.close()
