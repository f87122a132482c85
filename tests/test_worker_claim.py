"""A worker stopped while its claim is being written (its device unplugged: the bank cancels a
worker holding no job yet) gives the job back to its pool, not only to the database: else the
job stays queued on disk and no device of the running pool ever takes it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from builders import key_and_job
from hardware.testbed import until

from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeviceState, Job, JobState
from modemd.runtime.followup import ClaimedLine
from modemd.runtime.outcome import OutcomeRecorder
from modemd.runtime.pool import PoolQueue
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices, dispatch, jobs, keys
from modemd.store.db import Store
from modemd.store.submits import SubmitLog

FAST = Timeouts(command_s=0.5, prompt_s=0.5, cmgs_s=5.0, registration_s=1.0, wake_s=0.3)


@dataclass
class Idle:
    """A worker idle on an emulated modem (stored as a device) in its pool, and a queued job."""

    device_id: str
    job: Job
    pool: PoolQueue
    worker: DeviceWorker
    task: asyncio.Task[None]


@pytest.fixture
async def idle(store: Store) -> AsyncIterator[Idle]:
    emulators = EmulatedBank.create(1, seed=9, profile_overrides={"send_latency_s": (0.0, 0.01)})
    await emulators.start()
    driver = SerialAtDriver(emulators.modems[0].port, "4711", timeouts=FAST)
    task: asyncio.Task[None] | None = None
    try:
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
        yield Idle(info.device_id, job, pool, worker, task)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await driver.close()
        await emulators.close()


async def test_a_worker_cancelled_during_its_claim_puts_the_job_back_in_the_pool(
    store: Store, idle: Idle
) -> None:
    job, pool, worker, task = idle.job, idle.pool, idle.worker, idle.task
    gate = threading.Event()
    try:
        await until(lambda: pool.idle_devices() == [idle.device_id])
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


async def test_a_worker_cancelled_before_it_takes_over_a_handed_claim_queues_the_job(
    store: Store, idle: Idle
) -> None:
    # Another device hands over a job it claimed ahead (still claimed: never in the pool);
    # the idle worker is cancelled before it resumes (a drain, an unplug): the job must go
    # back to the queue, else it stays ``sending`` on a device that will never send it.
    job, pool, task = idle.job, idle.pool, idle.task
    line = ClaimedLine(OutcomeRecorder(store, pool, SubmitLog(None)), pool, "busy-one")
    await until(lambda: pool.idle_devices(taking_claimed=True) == [idle.device_id])
    held = await store.write(dispatch.claim_for, job.job_id, "busy-one", None, job)
    assert held is not None
    line.jobs.append(held)
    assert line.give_back(idle.device_id)  # handed over, still claimed by busy-one
    task.cancel()  # in the same tick: the worker never takes the claim over
    await asyncio.gather(task, return_exceptions=True)
    back = await store.read(jobs.get_job, job.job_id)
    assert back is not None and (back.state, back.device_id) == (JobState.QUEUED, None)
    assert await store.read(jobs.attempts, job.job_id) == 0  # untried
    assert pool.job_ids() == {job.job_id}  # and in the pool for the others
    assert not line.jobs


async def test_a_worker_cancelled_while_it_gives_back_its_claimed_jobs_still_pools_them(
    store: Store,
) -> None:
    # A device unplugged in mid-send while it held a job claimed ahead: its worker gives the
    # job back (``ClaimedLine.release``, one write) and the bank, told of the removal, cancels
    # it meanwhile (it holds no current job any more). The job must be queued on disk and in
    # the pool: else no device of the running pool takes it (the hot-plug test's lost job).
    _, _, job = await key_and_job(store, None, pin="4711")
    pool = PoolQueue("4711")
    line = ClaimedLine(OutcomeRecorder(store, pool, SubmitLog(None)), pool, "gone-one")
    held = await store.write(dispatch.claim_for, job.job_id, "gone-one", None, job)
    assert held is not None
    line.jobs.append(held)
    gate = threading.Event()
    try:
        blocker = asyncio.ensure_future(store.write(lambda _db: gate.wait(30)))
        release = asyncio.create_task(line.release(), name="release under test")
        for _ in range(5):
            await asyncio.sleep(0)
        assert not line.jobs  # taken off the line; its write waits behind the blocked writer
        release.cancel()
        gate.set()
        await blocker
        await asyncio.gather(release, return_exceptions=True)
        back = await store.read(jobs.get_job, job.job_id)
        assert back is not None and (back.state, back.device_id) == (JobState.QUEUED, None)
        assert pool.job_ids() == {job.job_id}  # a running pool's other devices can take it
    finally:
        gate.set()
