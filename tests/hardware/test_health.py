"""Health checks, backoff and pacing of one worker, on an emulated modem over a real pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modemd import config
from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.errors import ConfigError
from modemd.model import DeviceState, JobState, Pacing
from modemd.runtime.pool import PoolQueue
from modemd.runtime.worker import DeviceWorker
from modemd.store import devices, jobs, keys
from modemd.store.db import Store

from .testbed import until

FAST = Timeouts(command_s=0.5, prompt_s=0.5, cmgs_s=5.0, registration_s=1.0, wake_s=0.3)


class One:
    """One emulated modem, its driver and its worker."""

    def __init__(self, modem: EmulatedModem, worker: DeviceWorker, store: Store) -> None:
        self.modem, self.worker, self.store = modem, worker, store

    async def submit(self, n: int) -> str:
        key, _ = await self.store.write(
            keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
        )
        job = await self.store.write(
            jobs.insert_job,
            key_id=key.key_id,
            pin="4711",
            to=f"+3161234{n:04d}",
            message="hi",
            parts=1,
            encoding="gsm7",
        )
        self.worker.pool.put(job)
        return job.job_id


@pytest.fixture
async def one(store: Store, request: pytest.FixtureRequest) -> AsyncIterator[One]:
    pacing = getattr(request, "param", Pacing())
    emulators = EmulatedBank.create(1, seed=5, profile_overrides={"send_latency_s": (0.0, 0.01)})
    await emulators.start()
    modem = emulators.modems[0]
    driver = SerialAtDriver(modem.port, "4711", timeouts=FAST)
    info = await driver.open()
    await store.write(devices.upsert_device, info, DeviceState.READY)
    worker = DeviceWorker(driver, PoolQueue("4711"), store, pacing=pacing, health_interval_s=0.2)
    task = asyncio.create_task(worker.run(), name="worker under test")
    yield One(modem, worker, store)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await driver.close()
    await emulators.close()


async def test_idle_modem_that_stops_answering_backs_off_and_recovers(one: One) -> None:
    seen: list[DeviceState] = []
    one.worker.life.listeners.append(lambda life, _prev: seen.append(life.state))
    one.modem.hang()
    await until(lambda: one.worker.state is DeviceState.BACKING_OFF)
    assert "health check" in one.worker.life.reason
    one.modem.resume()
    await until(lambda: one.worker.state is DeviceState.READY, timeout=10)
    assert seen[:2] == [DeviceState.BACKING_OFF, DeviceState.READY]
    job_id = await one.submit(1)  # and it sends again
    await until(lambda: one.worker.state is DeviceState.READY)
    async with asyncio.timeout(10):
        while (await one.store.read(jobs.get_job, job_id)).state is JobState.QUEUED:
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("one", [Pacing(daily_cap=2)], indirect=True)
async def test_daily_cap_stops_the_device_taking_jobs(one: One) -> None:
    ids = [await one.submit(n) for n in range(3)]
    await until(lambda: one.worker.state is DeviceState.BACKING_OFF)
    iccid = one.modem.profile.iccid
    assert one.worker.life.reason == f"SIM {iccid} daily cap of 2 SMS reached"
    states = [(await one.store.read(jobs.get_job, i)).state for i in ids]
    assert states.count(JobState.QUEUED) == 1 and len(one.worker.pool) == 1


def test_hardware_config(tmp_path: Path) -> None:
    path = tmp_path / "modemd.toml"
    path.write_text(
        "[udev]\nenabled = true\n"
        '[[udev.labels]]\nid_path = "pci-0000:00:14.0-usb-0:3"\npin = 4711\n'
        '[[udev.labels]]\nid_serial = "Quectel_X"\npin = "9"\n'
        '[sim_pins]\n"8900" = "1234"\n'
        "[pacing]\nmin_gap_s = 2.5\ndaily_cap = 100\n"
        '[pacing.devices."3500"]\ndaily_cap = 5\n'
    )
    settings = config.load(str(path))
    assert settings.udev is True
    assert [(r.key, r.value, r.pin) for r in settings.labels] == [
        ("ID_PATH", "pci-0000:00:14.0-usb-0:3", "4711"),
        ("ID_SERIAL", "Quectel_X", "9"),
    ]
    assert settings.labels[0].matches({"ID_PATH": "pci-0000:00:14.0-usb-0:3:1.2"})
    assert not settings.labels[0].matches({"ID_PATH": "pci-0000:00:14.0-usb-0:31:1.2"})
    assert settings.sim_pins == {"8900": "1234"}
    assert settings.pacing_of("other") == Pacing(min_gap_s=2.5, daily_cap=100)
    assert settings.pacing_of("3500") == Pacing(min_gap_s=2.5, daily_cap=5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[udev]\nenabled = 1\n", "udev.enabled must be true or false"),
        ('[[udev.labels]]\npin = "1"\n', "udev.labels[0] needs a 'pin' and one of"),
        ("[pacing]\ndaily_cap = -1\n", "pacing.daily_cap must be a whole number >= 0"),
    ],
)
def test_bad_hardware_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "modemd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load(str(path))
