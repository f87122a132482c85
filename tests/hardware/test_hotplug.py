"""Hot-plug against a umockdev testbed: modems come and go while jobs flow to the ones present."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from modemd.drivers.serial_at import Timeouts
from modemd.emulators.profile import emulated_identity
from modemd.hardware.hotplug import HotPlug
from modemd.hardware.udev import Udev
from modemd.model import DeviceState, Job, JobState
from modemd.runtime.bank import Bank
from modemd.store import devices, jobs, keys
from modemd.store.db import Store

from .testbed import Bench, FakeUsbModem, TtySpec, until

FAST = Timeouts(command_s=1.0, prompt_s=0.5, cmgs_s=5.0, registration_s=2.0, wake_s=0.3)
QUICK = {"send_latency_s": (0.02, 0.08), "report_delay_s": 0.01}
OUT = (JobState.SENT, JobState.DELIVERED, JobState.UNKNOWN)  # handed over, or maybe
log = logging.getLogger(__name__)


def modem(port: str, *, pin: str = "4711", first_tty: int | None = None) -> FakeUsbModem:
    """A 3-port modem on USB port ``port``; its AT port is interface 2 (unhinted)."""
    base = int(port) * 4 if first_tty is None else first_tty
    label = {"MODEMD_PIN": pin}
    return FakeUsbModem(
        usb_port=port,
        serial=f"SER{port}",
        ttys=[
            TtySpec(f"ttyUSB{base}", 0, "silent", dict(label)),
            TtySpec(f"ttyUSB{base + 1}", 1, "noise", dict(label)),
            TtySpec(f"ttyUSB{base + 2}", 2, "at", dict(label)),
        ],
    )


class Rig:
    def __init__(self, store: Store, bank: Bank, hotplug: HotPlug, bench: Bench) -> None:
        self.store, self.bank, self.hotplug, self.bench = store, bank, hotplug, bench
        self.key_id = 0

    async def submit(self, to: str, pin: str = "4711") -> Job:
        if not self.key_id:
            key, _ = await self.store.write(
                keys.create_key, pin=pin, allow_ips=[], over_ip=True, ipn_url=None
            )
            self.key_id = key.key_id
        job = await self.store.write(
            jobs.insert_job,
            key_id=self.key_id,
            pin=pin,
            to=to,
            message=f"hi {to}",
            parts=1,
            encoding="gsm7",
        )
        self.bank.submit(job)
        return job

    def ready(self, identity: int) -> bool:
        worker = self.bank.workers.get(emulated_identity(identity).imei)
        return worker is not None and worker.state is DeviceState.READY

    def gone(self, identity: int) -> bool:
        worker = self.bank.workers.get(emulated_identity(identity).imei)
        return worker is not None and worker.state is DeviceState.GONE


@pytest.fixture
async def rig(store: Store, bench: Bench) -> AsyncIterator[Rig]:
    bank = Bank(store)
    await bank.start()
    hotplug = HotPlug(
        Udev(),
        attach=bank.attach_spec,
        detach=bank.detach,
        sim_pins={emulated_identity(7).iccid: "1234"},
        timeouts=FAST,
        debounce_s=0.1,
        retry_first_s=0.5,
        probe_timeout_s=0.3,
    )
    await hotplug.start()
    yield Rig(store, bank, hotplug, bench)
    await hotplug.close()
    await bank.close()
    for what, device, seconds in hotplug.timings:
        log.warning("timing %s %s %.1f ms", what, device, seconds * 1000)


async def test_modem_plugged_in_before_start_is_found(store: Store, bench: Bench) -> None:
    await bench.plug(modem("3"), identity=0, **QUICK)
    bank = Bank(store)
    await bank.start()
    hotplug = HotPlug(
        Udev(), attach=bank.attach_spec, detach=bank.detach, timeouts=FAST, debounce_s=0.05
    )
    await hotplug.start()
    try:
        worker = await until(lambda: bank.workers.get(emulated_identity(0).imei))
        await until(lambda: worker.state is DeviceState.READY)
        assert worker.device.info.port == "/dev/ttyUSB14"  # probed: not the silent, not the noise
    finally:
        await hotplug.close()
        await bank.close()


async def test_jobs_keep_flowing_while_modems_come_and_go(rig: Rig) -> None:
    first, second, third = modem("3"), modem("4"), modem("5")
    await rig.bench.plug(first, identity=0, **QUICK)
    await rig.bench.plug(second, identity=1, **QUICK)
    await until(lambda: rig.ready(0) and rig.ready(1))

    submitted = []
    for n in range(40):
        submitted.append(await rig.submit(f"+3161234{n:04d}"))
        if n == 10:
            await rig.bench.unplug(first)  # mid-stream: maybe while it sends
        if n == 20:
            await rig.bench.plug(third, identity=2, **QUICK)
        await asyncio.sleep(0.02)
    await until(lambda: rig.gone(0))
    await until(lambda: rig.ready(2))

    async def settled() -> list[Job]:
        found = [await rig.store.read(jobs.get_job, j.job_id) for j in submitted]
        return [j for j in found if j is not None]

    done: list[Job] = []
    try:
        async with asyncio.timeout(30):
            while True:
                done = await settled()
                if all(j.state in OUT for j in done):  # nothing left queued or sending
                    break
                await asyncio.sleep(0.05)
    except TimeoutError:  # say which job was left, and whether a device may still take it
        left = [(j.job_id, j.state.value, j.device_id) for j in done if j.state not in OUT]
        pooled = rig.bank.pool("4711").job_ids()
        pytest.fail(f"left after 30 s: {left}; in the pool: {pooled}")
    by_state: dict[JobState, list[Job]] = {}
    for job in done:
        by_state.setdefault(job.state, []).append(job)
    unknown = by_state.get(JobState.UNKNOWN, [])
    assert len(unknown) <= 1  # at most the one the first modem was sending when pulled
    assert all(j.device_id == emulated_identity(0).imei for j in unknown)
    senders = {j.device_id for j in done[25:]}
    assert emulated_identity(0).imei not in senders  # gone: nothing more for it
    assert emulated_identity(2).imei in {j.device_id for j in done}  # the newcomer took jobs
    assert rig.bank.offers("4711") and all(
        o.device_id != emulated_identity(0).imei for o in rig.bank.offers("4711")
    )
    assert [t for t in rig.hotplug.timings if t[0] == "remove->gone"]


async def test_replugged_modem_is_the_same_device(rig: Rig) -> None:
    await rig.bench.plug(modem("3"), identity=4, **QUICK)
    await until(lambda: rig.ready(4))
    await rig.bench.unplug(modem("3"))
    await until(lambda: rig.gone(4))
    # It comes back on another hub port with new tty numbers, as after a firmware reset.
    await rig.bench.plug(modem("6", first_tty=40), identity=4, **QUICK)
    await until(lambda: rig.ready(4))
    rows = [r for r in await rig.store.read(devices.list_devices)]
    assert [(r["device_id"], r["port"], r["state"]) for r in rows] == [
        (emulated_identity(4).imei, "/dev/ttyUSB42", "ready")
    ]
    job = await rig.submit("+31612340000")
    await until(lambda: rig.bank.workers[emulated_identity(4).imei].state is DeviceState.READY)
    async with asyncio.timeout(10):
        while (await rig.store.read(jobs.get_job, job.job_id)).state is not JobState.DELIVERED:
            await asyncio.sleep(0.02)


async def test_sim_pin_comes_from_config_by_iccid(rig: Rig) -> None:
    await rig.bench.plug(modem("3"), identity=7, sim_pin="1234", **QUICK)
    await until(lambda: rig.ready(7))


async def test_wrong_sim_pin_is_never_retried(rig: Rig) -> None:
    emulated = await rig.bench.plug(modem("3"), identity=8, sim_pin="0000", **QUICK)
    assert emulated is not None
    slot = await until(lambda: next(iter(rig.hotplug.slots.values()), None))
    await until(lambda: slot.life.state is DeviceState.SIM_LOCKED, timeout=10)
    assert "SIM PIN needed" in slot.life.reason
    await asyncio.sleep(1.0)  # longer than the retry delay: still locked, nothing tried
    assert slot.life.state is DeviceState.SIM_LOCKED
    assert 8 not in [i for i in range(10) if rig.ready(i)]


async def test_a_modem_is_probed_only_when_a_place_to_open_ports_is_free(
    store: Store, bench: Bench
) -> None:
    bank = Bank(store, open_concurrency=1)
    await bank.start()
    quick: dict[str, Any] = {"timeouts": FAST, "debounce_s": 0.05, "probe_timeout_s": 0.3}
    hotplug = HotPlug(Udev(), attach=bank.attach_spec, detach=bank.detach, **quick)
    hotplug.opening = bank.opening  # as modemd serve wires it
    await hotplug.start()
    await bank.opening.acquire()  # the one place is taken (another modem opening)
    held = True
    try:
        emulated = await bench.plug(modem("3"), identity=0, **QUICK)
        assert emulated is not None
        heard: list[bytes] = []
        emulated.on_input = heard.append
        await until(lambda: any(s.task is not None for s in hotplug.slots.values()))
        await asyncio.sleep(1.0)  # three probe timeouts: its AT port would have been asked
        assert heard == []
        assert emulated_identity(0).imei not in bank.workers
        bank.opening.release()
        held = False
        worker = await until(lambda: bank.workers.get(emulated_identity(0).imei))
        await until(lambda: worker.state is DeviceState.READY)
        assert heard  # probed and opened once the place was free
    finally:
        if held:
            bank.opening.release()
        await hotplug.close()
        await bank.close()
