"""A worker stopped twice (a stop's drain timed out, then the bank's close cancels again what
still runs) finishes putting its jobs right first: the job in flight is judged (unknown once
it may have gone out) and the jobs claimed after it go back to the queue, before the worker
ends. Real store, real driver on an emulated modem; the store's writer held by a gate so that
the second cancel comes while those writes wait."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hardware.testbed import until

from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeviceState, Job, JobState
from modemd.runtime.pool import PoolQueue
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices, jobs, keys
from modemd.store.db import Store

FAST = Timeouts(command_s=1.0, prompt_s=1.0, cmgs_s=30.0, registration_s=1.0, wake_s=0.3)
SEND_S = 0.5  # the network's time per send at the emulated modem
SETTLE_S = 0.3  # ample for a cancelled task to end when nothing holds it


@dataclass
class Rig:
    store: Store
    modem: EmulatedModem
    pool: PoolQueue
    worker: DeviceWorker
    jobs: list[Job]
    gate: threading.Event

    def hold_the_writer(self) -> asyncio.Future[object]:
        """Every write queued from now on waits until ``gate`` is set."""
        return asyncio.ensure_future(self.store.write(lambda _db: self.gate.wait(30)))

    async def state(self, job: Job) -> JobState:
        found = await self.store.read(jobs.get_job, job.job_id)
        assert found is not None
        return found.state


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    emulators = EmulatedBank.create(
        1,
        seed=4,
        profile_overrides={"send_latency_s": (SEND_S, SEND_S), "report_delay_s": 600.0},
    )
    await emulators.start()
    driver = SerialAtDriver(emulators.modems[0].port, "4711", timeouts=FAST)
    gate = threading.Event()
    try:
        await store.write(devices.upsert_device, await driver.open(), DeviceState.READY)
        key, _ = await store.write(
            keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
        )
        made = [
            await store.write(
                jobs.insert_job, key_id=key.key_id, pin="4711", to=f"+3161234{n:04d}",
                message=f"job {n}", parts=1, encoding="gsm7",
            )
            for n in range(2)
        ]  # fmt: skip
        pool = PoolQueue("4711")
        worker = DeviceWorker(driver, pool, store, health_interval_s=30.0)
        yield Rig(store, emulators.modems[0], pool, worker, made, gate)
    finally:
        gate.set()
        await driver.close()
        await emulators.close()


async def _cancel_twice(task: asyncio.Task[None]) -> None:
    """Cancel, let the worker reach its writes (held), cancel again: it must not end yet."""
    task.cancel()
    await asyncio.sleep(SETTLE_S)
    task.cancel()
    await asyncio.sleep(SETTLE_S)
    assert not task.done()  # still putting its jobs right


async def test_a_second_cancel_mid_send_still_judges_the_send_and_queues_the_next(
    rig: Rig,
) -> None:
    first, second = rig.jobs
    on_wire = asyncio.Event()
    rig.modem.on_input = lambda data: on_wire.set() if b"AT+CMGS=" in data else None
    rig.pool.put(first)
    rig.pool.put(second)  # claimed ahead while the first is sent
    task = asyncio.create_task(rig.worker.run(), name="worker under test")
    try:
        await asyncio.wait_for(on_wire.wait(), timeout=10)
        await until(lambda: len(rig.worker.claimed.jobs) == 1, timeout=10)
        held = rig.hold_the_writer()
        await _cancel_twice(task)
        rig.gate.set()
        await held
        await asyncio.gather(task, return_exceptions=True)
        assert await rig.state(first) is JobState.UNKNOWN  # its PDU may have gone: never again
        assert await rig.state(second) is JobState.QUEUED
        assert rig.pool.job_ids() == {second.job_id}
    finally:
        rig.gate.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_second_cancel_while_the_record_commits_still_queues_what_it_claimed(
    rig: Rig,
) -> None:
    first, second = rig.jobs
    held: list[asyncio.Future[object]] = []

    def on_input(data: bytes) -> None:  # the first send is on the wire, nothing claimed ahead
        if b"AT+CMGS=" in data and not held:
            rig.pool.put(second)  # its record will claim it ...
            held.append(rig.hold_the_writer())  # ... in a commit held back

    rig.modem.on_input = on_input
    rig.pool.put(first)
    task = asyncio.create_task(rig.worker.run(), name="worker under test")
    try:
        # The send ended; the worker waits for its record, which holds the second job
        await until(lambda: bool(rig.modem.accepted) and rig.worker.current is None, timeout=10)
        await asyncio.sleep(SETTLE_S)
        record = rig.worker.claimed.record
        assert record is not None and not record.done() and rig.worker.claimed.held == 1
        await _cancel_twice(task)
        rig.gate.set()
        await held[0]
        await asyncio.gather(task, return_exceptions=True)
        assert rig.pool.job_ids() == {second.job_id}  # back in the pool before the end
        assert await rig.state(first) is JobState.SENT
        assert await rig.state(second) is JobState.QUEUED
    finally:
        rig.gate.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
