"""A device's health over a real pty: a hung modem is reopened, registration and SIM come and
go, pacing holds. Workers share one pool, as the bank's do; emulated modems play the radio."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from hardware.testbed import until

from modemd.at.transaction import Command
from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.errors import ModemCommandError, SendError
from modemd.model import DeviceLife, DeviceState, Job, JobState, Pacing
from modemd.runtime.bank import Bank
from modemd.runtime.pool import PoolQueue
from modemd.runtime.recovery import RecoverySettings
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices, events, jobs, keys
from modemd.store.db import Store

FAST = Timeouts(command_s=0.5, prompt_s=0.5, cmgs_s=1.0, registration_s=1.0, wake_s=0.3)
PIN = "4711"
OVERRIDES = {"send_latency_s": (0.0, 0.01), "report_delay_s": 0.05}
# The ladder's intervals in fractions of a second: tests assert the order of steps, not time.
FAST_RECOVERY = RecoverySettings(
    step_pause_s=0.02, cfun_timeout_s=0.5, module_boot_s=0.05, retry_failed_s=0.2
)


class Rig:
    """Emulated modems, their drivers and workers, one pool."""

    def __init__(self, store: Store, modems: list[EmulatedModem]) -> None:
        self.store, self.modems = store, modems
        self.pool = PoolQueue(PIN)
        self.reports = Bank(store)  # stores status reports as the daemon does
        self.drivers: list[SerialAtDriver] = []
        self.workers: list[DeviceWorker] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.lines: list[list[bytes]] = [[] for _ in modems]  # what each modem was sent
        self.key_id: int | None = None

    async def start(self, pacing: Pacing) -> None:
        for modem, lines in zip(self.modems, self.lines, strict=True):
            modem.on_input = lines.append
            driver = SerialAtDriver(
                modem.port, PIN, on_report=self.reports.on_report, timeouts=FAST
            )
            self.drivers.append(driver)
            info = await driver.open()
            await self.store.write(devices.upsert_device, info, DeviceState.READY)
            worker = DeviceWorker(
                driver, self.pool, self.store, life=DeviceLife(modem.port, DeviceState.OPENING),
                pacing=pacing, health_interval_s=0.2, backoff_first_s=0.2, recovery=FAST_RECOVERY,
            )  # fmt: skip
            self.workers.append(worker)
            self.tasks.append(asyncio.create_task(worker.run(), name=f"worker {info.device_id}"))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for driver in self.drivers:
            await driver.close()
        await self.reports.close()

    def sent(self, index: int, command: bytes) -> int:
        """How many times modem ``index`` was sent ``command``."""
        return b"".join(self.lines[index]).count(command)

    async def submit(self, n: int, id_device: str | None = None) -> str:
        """Queue "hi" to +3161234<n> (only for ``id_device`` when given); its job_id."""
        if self.key_id is None:
            key, _ = await self.store.write(
                keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None
            )
            self.key_id = key.key_id
        job = await self.store.write(
            jobs.insert_job, key_id=self.key_id, pin=PIN, to=f"+3161234{n:04d}", message="hi",
            parts=1, encoding="gsm7", id_device=id_device,
        )  # fmt: skip
        self.pool.put(job)
        return job.job_id

    async def job_in(self, job_id: str, *states: JobState) -> Job:
        async def get() -> Job | None:
            job = await self.store.read(jobs.get_job, job_id)
            return job if job is not None and job.state in states else None

        async with asyncio.timeout(15):
            while (job := await get()) is None:
                await asyncio.sleep(0.02)
        return job

    async def event_types(self, job_id: str) -> list[str]:
        return [row["type"] for row in await self.store.read(events.list_events, job_id)]


@pytest.fixture
async def rig(store: Store, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    count, pacing = getattr(request, "param", (1, Pacing()))
    emulators = EmulatedBank.create(count, seed=11, profile_overrides=OVERRIDES)
    await emulators.start()
    built = Rig(store, emulators.modems)
    try:
        await built.start(pacing)
        yield built
    finally:
        await built.close()
        await emulators.close()


def hang_on(modem: EmulatedModem, marker: bytes, lines: list[bytes]) -> None:
    """Freeze ``modem`` the moment it reads ``marker`` (what it read still counts)."""

    def watch(data: bytes) -> None:
        lines.append(data)
        if marker in data:
            modem.on_input = lines.append
            modem.hang()

    modem.on_input = watch


def recovered(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The step each "recovered after <step>" line names, in order."""
    return [
        r.getMessage().rsplit(" ", 1)[-1]
        for r in caplog.records
        if ": recovered after " in r.getMessage()
    ]


async def test_idle_hung_modem_is_reopened_and_sends_again(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modemd.runtime.worker")
    modem, worker = rig.modems[0], rig.workers[0]
    modem.hang()
    await until(lambda: worker.state is DeviceState.BACKING_OFF)
    await asyncio.sleep(1.0)  # a few reopen attempts meet silence
    modem.resume()
    await until(lambda: worker.state is DeviceState.READY)
    assert rig.drivers[0].info.device_id == modem.profile.imei
    job = await rig.job_in(await rig.submit(1), JobState.SENT, JobState.DELIVERED)
    assert job.device_id == modem.profile.imei and len(modem.accepted) == 1
    assert len(recovered(caplog)) == 1  # after whichever step met the modem resumed


async def test_hang_before_ctrl_z_requeues_then_the_modem_sends_it(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modemd.runtime.worker")
    modem, worker = rig.modems[0], rig.workers[0]
    hang_on(modem, b"AT+CMGS=", rig.lines[0])
    job_id = await rig.submit(1)
    await until(lambda: worker.state is DeviceState.BACKING_OFF)
    queued = await rig.job_in(job_id, JobState.QUEUED)  # nothing went out: back in line
    assert queued.error and "prompt" in queued.error
    assert modem.accepted == []
    modem.resume()
    sent = await rig.job_in(job_id, JobState.SENT, JobState.DELIVERED)
    assert sent.device_id == modem.profile.imei
    assert [m.to for m in modem.accepted] == [sent.to]  # once
    assert len(recovered(caplog)) == 1


async def test_hang_after_ctrl_z_is_unknown_until_the_stored_report_settles_it(rig: Rig) -> None:
    modem, worker = rig.modems[0], rig.workers[0]
    hang_on(modem, b"\x1a", rig.lines[0])
    job_id = await rig.submit(1)
    await rig.job_in(job_id, JobState.UNKNOWN)  # the network may have it: never resent
    await until(lambda: worker.state is DeviceState.BACKING_OFF)
    assert len(modem.accepted) == 1  # it had: its report waits in the modem's storage
    modem.resume()
    delivered = await rig.job_in(job_id, JobState.DELIVERED)  # read back after the reopen
    assert await rig.event_types(job_id) == ["sms.unknown", "sms.delivered"]
    assert delivered.device_id == modem.profile.imei
    await rig.job_in(await rig.submit(2), JobState.SENT, JobState.DELIVERED)
    assert [m.to for m in modem.accepted] == ["+31612340001", "+31612340002"]


@pytest.mark.parametrize("rig", [(2, Pacing())], indirect=True)
async def test_another_imei_after_reopen_leaves_the_pool(rig: Rig) -> None:
    first, second = rig.modems
    async with EmulatedBank.create(1, seed=12, profile_overrides=OVERRIDES) as strangers:
        rig.drivers[0].port = strangers.modems[0].port  # the tty name now leads to another modem
        first.hang()
        await until(lambda: rig.workers[0].state is DeviceState.GONE)
        assert rig.drivers[0].info.device_id == first.profile.imei  # it keeps its identity
        # the second waits in the pool between its own health checks (not during one)
        await until(lambda: rig.pool.idle_devices() == [second.profile.imei])
        job = await rig.job_in(await rig.submit(1), JobState.SENT, JobState.DELIVERED)
        assert job.device_id == second.profile.imei
        await rig.drivers[0].close()


NETWORK_LOSSES: dict[str, tuple[Callable[[EmulatedModem], None], ...]] = {
    "registration lost": (lambda m: m.set_registration(2), lambda m: m.set_registration(1)),
    "SIM removed": (EmulatedModem.remove_sim, EmulatedModem.insert_sim),
    "SIM blocked (PUK)": (EmulatedModem.block_sim, EmulatedModem.insert_sim),
}


@pytest.mark.parametrize("rig", [(2, Pacing())], indirect=True)
@pytest.mark.parametrize("loss", NETWORK_LOSSES.values(), ids=NETWORK_LOSSES.keys())
async def test_device_off_the_network_leaves_the_idle_pool_until_back(
    rig: Rig, loss: tuple[Callable[[EmulatedModem], None], ...]
) -> None:
    lose, restore = loss
    (lost, other), (worker, _) = rig.modems, rig.workers
    lose(lost)
    await until(lambda: worker.state is DeviceState.SEARCHING_NETWORK)
    assert worker.life.reason.startswith("+CREG stat ")
    assert lost.profile.imei not in rig.pool.idle_devices()
    for n in range(3):  # meanwhile the pool's jobs go to the other modem
        job = await rig.job_in(await rig.submit(n), JobState.SENT, JobState.DELIVERED)
        assert job.device_id == other.profile.imei
    restore(lost)
    await until(lambda: worker.state is DeviceState.READY)
    targeted = await rig.submit(9, lost.profile.imei)
    job = await rig.job_in(targeted, JobState.SENT, JobState.DELIVERED)
    assert job.device_id == lost.profile.imei and len(lost.accepted) == 1


@pytest.mark.parametrize("rig", [(1, Pacing(min_gap_s=0.3))], indirect=True)
async def test_min_gap_between_sends_holds(rig: Rig) -> None:
    ids = [await rig.submit(n) for n in range(3)]
    for job_id in ids:
        await rig.job_in(job_id, JobState.SENT, JobState.DELIVERED)
    times = [m.at for m in rig.modems[0].accepted]
    assert len(times) == 3
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(times))


async def test_sim_knobs_answer_as_a_modem_would(rig: Rig) -> None:
    modem, driver = rig.modems[0], rig.drivers[0]
    rig.tasks[0].cancel()  # the driver alone speaks to the modem here
    await asyncio.gather(rig.tasks[0], return_exceptions=True)
    modem.remove_sim()
    for command in ("AT+CPIN?", "AT+CCID", "AT+CIMI"):
        with pytest.raises(ModemCommandError) as error:
            await driver.command(Command(command))
        assert error.value.code == 10, command
    with pytest.raises(SendError) as failed:
        await driver.send_sms("+31612345678", "hi")
    assert failed.value.code == 310 and failed.value.outcome_known
    modem.block_sim()
    assert await driver.command(Command("AT+CPIN?", prefix="+CPIN:")) == ["SIM PUK"]
    with pytest.raises(ModemCommandError) as error:
        await driver.command(Command('AT+CPIN="0000"'))
    assert error.value.code == 12
    modem.insert_sim()
    assert await driver.command(Command("AT+CPIN?", prefix="+CPIN:")) == ["READY"]
    registration = await driver.check_registration()
    assert registration.registered and registration.why.startswith("+CREG stat 1:")
