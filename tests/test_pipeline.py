"""While a backlog waits, a device holds its next job claimed before the send in progress ends,
and records that send while it sends the next (runtime/followup.py). Seen in the submit log's
order (a claim line before the commit that claims, a submit line before the PDU goes): real
store, real driver, an emulated modem on a pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hardware.testbed import until

from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import NO_PACING, DeviceState, Job, JobState, Lane, Pacing
from modemd.runtime.followup import CLAIMED_AHEAD
from modemd.runtime.pool import PoolQueue
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices, jobs, keys
from modemd.store.db import Store
from modemd.store.submits import SubmitLog

FAST = Timeouts(command_s=1.0, prompt_s=1.0, cmgs_s=10.0, registration_s=1.0, wake_s=0.3)
BOOT = "0f3c7a52-6f0e-4e57-9d1c-2b8e4f6a1d90"
JOBS = 5
REPORT_LATER_S = 600.0  # no status report comes during a test


class Queue:
    """A pool, its jobs in a real store and the submit log of the workers sending them."""

    def __init__(self, store: Store, log: Path) -> None:
        self.store, self.log, self.pool = store, log, PoolQueue("4711")
        self.submits = SubmitLog(log, BOOT)
        self.submits.start()

    def new_worker(self, driver: SerialAtDriver) -> DeviceWorker:
        return DeviceWorker(
            driver, self.pool, self.store, health_interval_s=30.0, submits=self.submits
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()[1:]

    async def queue(self, count: int, lane: Lane = Lane.HIGH) -> list[Job]:
        key, _ = await self.store.write(
            keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
        )
        made = [
            await self.store.write(
                jobs.insert_job, key_id=key.key_id, pin="4711", to=f"+3161234{n:04d}",
                message=f"job {n}", parts=1, encoding="gsm7", lane=lane,
            )
            for n in range(count)
        ]  # fmt: skip
        for job in made:
            self.pool.put(job)
        return made

    async def state(self, job: Job) -> JobState:
        found = await self.store.read(jobs.get_job, job.job_id)
        assert found is not None
        return found.state


class Rig(Queue):
    def __init__(self, store: Store, driver: SerialAtDriver, log: Path, bank: EmulatedBank):
        super().__init__(store, log)
        self.driver, self.bank = driver, bank
        self.worker = self.new_worker(driver)
        self.task = asyncio.create_task(self.worker.run(), name="worker under test")


@pytest.fixture
async def rig(store: Store, tmp_path: Path) -> AsyncIterator[Rig]:
    emulators = EmulatedBank.create(
        1,
        seed=3,
        profile_overrides={"send_latency_s": (0.2, 0.2), "report_delay_s": REPORT_LATER_S},
    )
    await emulators.start()
    driver = SerialAtDriver(emulators.modems[0].port, "4711", timeouts=FAST)
    info = await driver.open()
    await store.write(devices.upsert_device, info, DeviceState.READY)
    made = Rig(store, driver, tmp_path / "modemd.db-submits", emulators)
    try:
        yield made
    finally:
        made.task.cancel()
        await asyncio.gather(made.task, return_exceptions=True)
        await driver.close()
        await emulators.close()


async def _all_sent(rig: Queue, queued: list[Job]) -> None:
    async with asyncio.timeout(30):
        while [await rig.state(job) for job in queued] != [JobState.SENT] * len(queued):
            await asyncio.sleep(0.05)


async def test_the_job_after_next_is_claimed_before_the_next_goes_out(rig: Rig) -> None:
    queued = await rig.queue(JOBS)
    await _all_sent(rig, queued)
    lines = rig.lines()
    for job in queued:  # each claimed once, submitted once, the claim first
        assert lines.count(f"claim {job.job_id}") == lines.count(f"submit {job.job_id}") == 1
        assert lines.index(f"claim {job.job_id}") < lines.index(f"submit {job.job_id}")
    # from the first send on: the second job is claimed while the first is sent, alone
    assert lines.index(f"claim {queued[1].job_id}") < lines.index(f"submit {queued[0].job_id}")
    assert lines.index(f"claim {queued[1].job_id}") + 1 < lines.index(f"claim {queued[2].job_id}")
    for later, sending in zip(queued[2:], queued[1:], strict=False):
        assert lines.index(f"claim {later.job_id}") < lines.index(f"submit {sending.job_id}")
    modem = rig.bank.modems[0]
    assert [m.text for m in modem.accepted] == [f"job {n}" for n in range(JOBS)]


async def test_a_bulk_job_is_not_claimed_ahead(rig: Rig) -> None:
    # A high-lane job that comes meanwhile must not wait behind one more bulk send.
    queued = await rig.queue(JOBS, lane=Lane.BULK)
    await _all_sent(rig, queued)
    lines = rig.lines()
    for later, sending in zip(queued[1:], queued, strict=False):
        assert lines.index(f"claim {later.job_id}") > lines.index(f"submit {sending.job_id}")


async def test_a_shutdown_puts_the_job_claimed_ahead_back_in_line(rig: Rig) -> None:
    first, second, third, fourth = await rig.queue(4)
    await until(lambda: f"claim {third.job_id}" in rig.lines(), timeout=20)
    assert rig.worker.claimed.held <= CLAIMED_AHEAD + 1  # next + ahead
    rig.task.cancel()  # a shutdown in the middle of the second job's send
    await asyncio.gather(rig.task, return_exceptions=True)
    assert await rig.state(first) is JobState.SENT
    assert await rig.state(second) in (JobState.SENT, JobState.UNKNOWN, JobState.QUEUED)
    assert await rig.state(third) is JobState.QUEUED  # claimed ahead, never sent
    assert await rig.state(fourth) is JobState.QUEUED
    in_line = [job for job in (second, third, fourth) if await rig.state(job) is JobState.QUEUED]
    waiting = [rig.pool.take_nowait("any") for _ in range(4)]
    assert [job.job_id for job in waiting if job] == [job.job_id for job in in_line]
    sent = [m.text for m in rig.bank.modems[0].accepted]
    assert "job 2" not in sent and "job 3" not in sent


async def test_a_device_going_idle_takes_the_job_another_claimed_ahead(
    store: Store, tmp_path: Path
) -> None:
    # End of a backlog: the slow modem sends its second job and holds the third claimed; the
    # other modem comes idle: it takes the third's claim over (one commit) and sends it.
    banks = [
        EmulatedBank.create(
            1,
            seed=seed,
            profile_overrides={"send_latency_s": (latency, latency), "report_delay_s": 600.0},
        )
        for seed, latency in ((3, 3.0), (5, 0.2))
    ]
    drivers: list[SerialAtDriver] = []
    tasks: list[asyncio.Task[None]] = []
    rig = Queue(store, tmp_path / "modemd.db-submits")
    try:
        for bank in banks:
            await bank.start()
            drivers.append(SerialAtDriver(bank.modems[0].port, "4711", timeouts=FAST))
            await store.write(devices.upsert_device, await drivers[-1].open(), DeviceState.READY)
        assert drivers[0].info.device_id != drivers[1].info.device_id
        workers = [rig.new_worker(driver) for driver in drivers]
        tasks.append(asyncio.create_task(workers[0].run(), name="slow worker"))
        first, second, third = await rig.queue(3)
        await until(lambda: f"submit {second.job_id}" in rig.lines(), timeout=30)
        # the first send's record claims the third while the second is sent (3 s)
        await until(lambda: [j.job_id for j in workers[0].claimed.jobs] == [third.job_id], 30)
        commits: list[float] = []
        store.on_commit_seconds.append(commits.append)
        slow, fast = (bank.modems[0] for bank in banks)
        before_send: list[int] = []  # commits when the idle one's AT+CMGS= came

        def on_input(data: bytes) -> None:
            if b"AT+CMGS=" in data and not before_send:
                before_send.append(len(commits))

        fast.on_input = on_input
        tasks.append(asyncio.create_task(workers[1].run(), name="fast worker"))
        await until(lambda: bool(fast.accepted), timeout=30)
        assert before_send == [1]  # the hand-over: one commit (given back + claimed again: 2)
        assert [m.text for m in slow.accepted] == ["job 0"]  # its second send still going
        await _all_sent(rig, [first, second, third])
        assert [m.text for m in slow.accepted] == ["job 0", "job 1"]
        assert [m.text for m in fast.accepted] == ["job 2"]  # sent once, by the idle one
        lines = rig.lines()
        assert lines.count(f"claim {third.job_id}") == 1  # by the slow one, taken over
        assert lines.count(f"submit {third.job_id}") == 1
        found = await store.read(jobs.get_job, third.job_id)
        assert found is not None and found.device_id == drivers[1].info.device_id
        assert found.error is None  # nothing failed or stopped
        # one claim's attempt, tried once: MAX_SEND_ATTEMPTS counts tries, not hand-overs
        assert await store.read(jobs.attempts, third.job_id) == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for driver in drivers:
            await driver.close()
        for bank in banks:
            await bank.close()


@asynccontextmanager
async def _one_modem(
    store: Store, tmp_path: Path, latency_s: float, pacing: Pacing = NO_PACING
) -> AsyncIterator[tuple[Queue, DeviceWorker, EmulatedBank]]:
    """One worker running on one emulated modem taking ``latency_s`` per send."""
    bank = EmulatedBank.create(
        1, seed=3, profile_overrides={"send_latency_s": (latency_s, latency_s),
                                      "report_delay_s": REPORT_LATER_S}
    )  # fmt: skip
    await bank.start()
    driver = SerialAtDriver(bank.modems[0].port, "4711", timeouts=FAST)
    rig = Queue(store, tmp_path / "modemd.db-submits")
    task: asyncio.Task[None] | None = None
    try:
        await store.write(devices.upsert_device, await driver.open(), DeviceState.READY)
        worker = DeviceWorker(
            driver, rig.pool, store, health_interval_s=30.0, submits=rig.submits, pacing=pacing
        )
        task = asyncio.create_task(worker.run(), name="worker under test")
        yield rig, worker, bank
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await driver.close()
        await bank.close()


async def test_a_job_put_during_a_send_holding_nothing_is_claimed_during_it(
    store: Store, tmp_path: Path
) -> None:
    # The first job of a backlog: its device found nothing to claim ahead when it began; the
    # second comes during the send (no idle device to take it) and is claimed during it, so
    # the second send does not wait for the first's record to claim it.
    async with _one_modem(store, tmp_path, 3.0) as (rig, worker, bank):
        (first,) = await rig.queue(1)
        await until(lambda: f"submit {first.job_id}" in rig.lines(), timeout=30)
        modem = bank.modems[0]
        (second,) = await rig.queue(1)  # put while the first is sent (3 s)
        await until(lambda: f"claim {second.job_id}" in rig.lines(), timeout=30)
        assert modem.accepted == []  # claimed before the first send ended
        assert await rig.state(second) is JobState.SENDING
        assert [job.job_id for job in worker.claimed.jobs] == [second.job_id]
        assert rig.pool.claimers == []  # once: it holds one now
        await _all_sent(rig, [first, second])
        assert [m.text for m in modem.accepted] == ["job 0", "job 0"]
        lines = rig.lines()
        assert lines.count(f"claim {second.job_id}") == lines.count(f"submit {second.job_id}") == 1


async def test_a_put_is_not_claimed_ahead_by_a_paced_device(store: Store, tmp_path: Path) -> None:
    # A device with a minimum gap between sends claims nothing before its send ends.
    async with _one_modem(store, tmp_path, 1.0, Pacing(min_gap_s=0.1)) as (rig, _worker, _bank):
        (first,) = await rig.queue(1)
        await until(lambda: f"submit {first.job_id}" in rig.lines(), timeout=30)
        (second,) = await rig.queue(1)
        assert rig.pool.claimers == [] and rig.pool.job_ids() == {second.job_id}
        await _all_sent(rig, [first, second])
