"""The recovery ladder over real ptys, against emulated modem faults that only the step they
name clears. Intervals come from config, in fractions of a second: the tests assert the order
of the steps and what happened to the jobs, never elapsed time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest
from hardware.testbed import until

from modemd.conversations.engine import Action, Inbound
from modemd.drivers import registry
from modemd.drivers.serial_at import Timeouts
from modemd.emulators.faults import FAULT_SIM_PIN, FaultKind
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.errors import DeviceError
from modemd.hardware.doctor import recovery_findings
from modemd.hardware.usb_reset import usb_reset
from modemd.model import DeviceState, JobState
from modemd.runtime.bank import Bank
from modemd.runtime.conversations import Conversations
from modemd.runtime.recovery import RecoverySettings
from modemd.service import UsbResetter
from modemd.store import devices, events, jobs, keys
from modemd.store.db import Store

PIN = "4711"
FAST = Timeouts(command_s=0.5, prompt_s=0.5, cmgs_s=1.0, registration_s=1.0, wake_s=0.2)
FAST_RECOVERY = RecoverySettings(
    probe_interval_s=0.3,
    step_pause_s=0.02,
    cfun_timeout_s=0.5,
    module_boot_s=0.05,
    return_timeout_s=5.0,
    retry_failed_s=0.5,
)
OVERRIDES = {"send_latency_s": (0.0, 0.01), "report_delay_s": 0.05}
SETTLE_TIMEOUT_S = 30.0  # generous: the machine is shared


class Ladder:
    """Emulated modems attached to a bank as the daemon does (USB resets and replugs too)."""

    def __init__(self, store: Store, emulators: EmulatedBank, recovery: RecoverySettings) -> None:
        self.store, self.emulators = store, emulators
        self.resetter = UsbResetter()
        self.bank = Bank(store, recovery=recovery, usb_reset=self.resetter)
        self.sim_pins: dict[str, str] = {}
        self.key_id = 0
        self._attaching: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        await self.bank.start()
        key, _ = await self.store.write(
            keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url="http://127.0.0.1:9/"
        )
        self.key_id = key.key_id
        for modem in self.emulators.modems:
            self.resetter.add(modem)
            modem.on_replug = self._replugged
            assert await self.bank.attach(self._factory(modem)) is not None

    def _factory(self, modem: EmulatedModem) -> registry.DriverFactory:
        return registry.factory(registry.SerialModem(modem.port, PIN, self.sim_pins.get, FAST))

    def _replugged(self, modem: EmulatedModem) -> None:
        self.resetter.add(modem)
        task = asyncio.create_task(self.bank.attach(self._factory(modem)), name="replug")
        self._attaching.add(task)
        task.add_done_callback(self._attaching.discard)

    async def close(self) -> None:
        await asyncio.gather(*self._attaching, return_exceptions=True)
        await self.bank.close()

    def state(self, modem: EmulatedModem) -> DeviceState | None:
        worker = self.bank.workers.get(modem.profile.imei)
        return worker.state if worker is not None else None

    async def submit(self, n: int) -> str:
        job = await self.store.write(
            jobs.insert_job, key_id=self.key_id, pin=PIN, to=f"+3161234{n:04d}", message="hi",
            parts=1, encoding="gsm7",
        )  # fmt: skip
        self.bank.submit(job)
        return job.job_id

    async def job_state(self, job_id: str) -> JobState:
        job = await self.store.read(jobs.get_job, job_id)
        assert job is not None
        return job.state

    async def settled(self, job_id: str) -> JobState:
        """The job's state once it left queued/sending."""
        async with asyncio.timeout(SETTLE_TIMEOUT_S):
            while (state := await self.job_state(job_id)) in (JobState.QUEUED, JobState.SENDING):
                await asyncio.sleep(0.02)
        return state

    async def device_events(self, modem: EmulatedModem) -> list[str]:
        rows = await self.store.read(events.list_events, f"device:{modem.profile.imei}")
        return [row["type"] for row in rows]


MakeLadder = Callable[..., Awaitable[Ladder]]


@pytest.fixture
async def make_ladder(store: Store) -> AsyncIterator[MakeLadder]:
    built: list[Ladder] = []

    async def make(count: int = 1, own_number: str | None = None, **recovery: object) -> Ladder:
        overrides = {**OVERRIDES, "own_number": own_number}
        emulators = EmulatedBank.create(count, seed=21, profile_overrides=overrides)
        await emulators.start()
        ladder = Ladder(store, emulators, replace(FAST_RECOVERY, **recovery))
        built.append(ladder)
        await ladder.start()
        return ladder

    yield make
    for ladder in built:
        await ladder.close()
        await ladder.emulators.close()


def steps(caplog: pytest.LogCaptureFixture, imei: str) -> list[str]:
    """The ladder's steps and outcomes for ``imei``, in order, as its log lines say them."""
    said = []
    for record in caplog.records:
        message = record.getMessage()
        if not message.startswith(f"device {imei}: "):
            continue
        if ": recovery step " in message:
            said.append(message.rsplit(" ", 1)[-1])
        elif ": recovered after " in message:
            said.append("recovered after " + message.rsplit(" ", 1)[-1])
        elif ": failed: " in message:
            said.append("failed")
    return said


@pytest.fixture(autouse=True)
def ladder_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modemd")


async def test_hung_until_cfun_recovers_after_the_radio_reset_and_loses_no_job(
    make_ladder: MakeLadder, caplog: pytest.LogCaptureFixture
) -> None:
    ladder = await make_ladder(2)
    hung, other = ladder.emulators.modems
    hung.inject(FaultKind.HANG_UNTIL_CFUN)
    job_ids = [await ladder.submit(n) for n in range(6)]
    await until(lambda: "recovered after radio_reset" in steps(caplog, hung.profile.imei))
    states = [await ladder.settled(j) for j in job_ids]
    assert set(states) <= {JobState.SENT, JobState.DELIVERED}, states
    sent = sorted(m.to for m in hung.accepted + other.accepted)
    assert sent == sorted(f"+3161234{n:04d}" for n in range(6))  # each exactly once
    assert other.accepted  # the other modem carried the queue meanwhile
    assert steps(caplog, hung.profile.imei) == [
        "esc_at",
        "reopen",
        "radio_reset",
        "recovered after radio_reset",
    ]
    await until(lambda: ladder.state(hung) is DeviceState.READY)
    assert await ladder.device_events(hung) == ["device.recovered"]
    await until(lambda: ladder.bank.workers[hung.profile.imei].ladder.climbing is False)
    rows = {r["device_id"]: r for r in await ladder.store.read(devices.list_devices)}
    health = rows[hung.profile.imei]
    assert health["recovered_after"] == "radio_reset"
    assert "prompt" in health["last_error"] or "AT+" in health["last_error"]  # what timed out
    assert health["iccid"] == hung.profile.iccid
    other_health = rows[other.profile.imei]
    assert other_health["last_success_at"] is not None
    assert (other_health["signal_dbm"], other_health["bars"]) == (-73, 4)  # +CSQ: 20


async def test_health_names_the_operator_the_registration_and_the_own_number(
    make_ladder: MakeLadder,
) -> None:
    ladder = await make_ladder(1, own_number="+15557654321")
    (modem,) = ladder.emulators.modems
    imei = modem.profile.imei

    async def health() -> dict[str, object]:
        rows = await ladder.store.read(devices.list_devices)
        return next(r for r in rows if r["device_id"] == imei)

    async with asyncio.timeout(SETTLE_TIMEOUT_S):  # the first health check writes it
        while (await health())["operator"] is None:
            await asyncio.sleep(0.05)
    row = await health()
    assert (row["operator"], row["registration"], row["roaming"]) == (
        "modemd Test Network", "home", False,
    )  # fmt: skip
    assert row["own_number"] == "+15557654321"
    assert ladder.bank.own_numbers() == {"+15557654321"}
    talk = Conversations.from_pools(ladder.store, ladder.bank, {})  # no own_numbers configured
    ours = Inbound(PIN, "+15557654321", "STOP", imei, time.time())
    assert (await talk.on_inbound(ours)).action is Action.NONE  # no reply loop with our SIM
    modem.set_registration(5)
    async with asyncio.timeout(SETTLE_TIMEOUT_S):
        while not (await health())["roaming"]:
            await asyncio.sleep(0.05)


async def test_hung_until_usb_reset_recovers_on_a_new_port_when_usb_reset_is_on(
    make_ladder: MakeLadder, caplog: pytest.LogCaptureFixture
) -> None:
    ladder = await make_ladder(1, usb_reset=True)
    (modem,) = ladder.emulators.modems
    old_port = modem.port
    modem.inject(FaultKind.HANG_UNTIL_USB_RESET)
    await until(lambda: "recovered after usb_reset" in steps(caplog, modem.profile.imei))
    await until(lambda: ladder.state(modem) is DeviceState.READY)
    assert modem.port != old_port
    assert steps(caplog, modem.profile.imei) == [
        "esc_at",
        "reopen",
        "radio_reset",
        "module_reset",
        "usb_reset",
        "recovered after usb_reset",
    ]
    assert await ladder.settled(await ladder.submit(1)) in (JobState.SENT, JobState.DELIVERED)
    assert await ladder.device_events(modem) == ["device.recovered"]


async def test_hung_until_usb_reset_fails_when_usb_reset_is_off(
    make_ladder: MakeLadder, caplog: pytest.LogCaptureFixture
) -> None:
    ladder = await make_ladder(1)
    (modem,) = ladder.emulators.modems
    modem.inject(FaultKind.HANG_UNTIL_USB_RESET)
    await until(lambda: ladder.state(modem) is DeviceState.FAILED)
    assert steps(caplog, modem.profile.imei)[:5] == [
        "esc_at",
        "reopen",
        "radio_reset",
        "module_reset",
        "failed",
    ]
    rows = await ladder.store.read(devices.list_devices)
    (finding,) = recovery_findings(rows, usb_reset=False)  # what modemd doctor says
    assert not finding.ok and finding.device.startswith(modem.profile.imei)
    assert "failed: recovery gave up" in finding.words and "usb_reset = true" in finding.words
    await until(lambda: steps(caplog, modem.profile.imei).count("esc_at") == 2)  # retried
    assert await ladder.device_events(modem) == ["device.failed"]  # said once, not per retry
    modem.inject(FaultKind.CLEAR)  # a person fixed it: the next retry finds it
    await until(lambda: ladder.state(modem) is DeviceState.READY)
    assert await ladder.device_events(modem) == ["device.failed", "device.recovered"]


async def test_a_pin_asked_again_after_the_reset_is_entered_from_the_config(
    make_ladder: MakeLadder, caplog: pytest.LogCaptureFixture
) -> None:
    ladder = await make_ladder(1)
    (modem,) = ladder.emulators.modems
    ladder.sim_pins[modem.profile.iccid] = FAULT_SIM_PIN
    seen: list[bytes] = []
    modem.on_input = seen.append
    modem.inject(FaultKind.PIN_AFTER_RESET)
    await until(lambda: "recovered after radio_reset" in steps(caplog, modem.profile.imei))
    await until(lambda: ladder.state(modem) is DeviceState.READY)
    assert f'AT+CPIN="{FAULT_SIM_PIN}"'.encode() in b"".join(seen)
    assert await ladder.settled(await ladder.submit(1)) in (JobState.SENT, JobState.DELIVERED)


async def test_a_pin_the_config_lacks_leaves_the_modem_sim_locked(
    make_ladder: MakeLadder, caplog: pytest.LogCaptureFixture
) -> None:
    ladder = await make_ladder(1)
    (modem,) = ladder.emulators.modems
    modem.inject(FaultKind.PIN_AFTER_RESET)
    await until(lambda: ladder.state(modem) is DeviceState.SIM_LOCKED)
    assert steps(caplog, modem.profile.imei)[:3] == ["esc_at", "reopen", "radio_reset"]
    assert await ladder.device_events(modem) == ["device.failed"]


async def test_losing_registration_takes_the_modem_out_of_the_pool_at_once(
    make_ladder: MakeLadder,
) -> None:
    ladder = await make_ladder(2, probe_interval_s=600.0)  # only the URC can tell in time
    lost, other = ladder.emulators.modems
    await until(lambda: len(ladder.bank.pool(PIN).idle_devices()) == 2)
    lost.inject(FaultKind.LOSE_REGISTRATION)
    await until(lambda: ladder.state(lost) is DeviceState.SEARCHING_NETWORK)
    assert ladder.bank.pool(PIN).idle_devices() == [other.profile.imei]
    job_ids = [await ladder.submit(n) for n in range(3)]
    await until(lambda: len(other.accepted) == len(job_ids))
    assert lost.accepted == []
    lost.inject(FaultKind.CLEAR)
    await until(lambda: ladder.state(lost) is DeviceState.READY)


async def test_a_usb_reset_needs_a_usb_device(make_ladder: MakeLadder) -> None:
    ladder = await make_ladder(1)
    with pytest.raises(DeviceError, match="not on a USB device"):
        await usb_reset(ladder.emulators.modems[0].port)  # a pty has no /dev/bus/usb node
