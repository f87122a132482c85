"""The bank and its workers with real drivers on emulated modems and a real SQLite file."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hardware.testbed import until

from modemd.drivers import registry
from modemd.drivers.serial_at import Timeouts
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeviceState, Job, JobState
from modemd.runtime.bank import Bank
from modemd.runtime.recovery import RecoverySettings
from modemd.store import events, jobs, keys
from modemd.store.db import Store

FAST = Timeouts(command_s=1.0, prompt_s=0.5, cmgs_s=10.0, registration_s=1.0)


async def wait_state(store: Store, job_id: str, *states: JobState, timeout: float = 10) -> Job:
    async with asyncio.timeout(timeout):
        while True:
            job = await store.read(jobs.get_job, job_id)
            if job is not None and job.state in states:
                return job
            await asyncio.sleep(0.02)


class Rig:
    def __init__(self, store: Store, emulators: EmulatedBank, bank: Bank) -> None:
        self.store, self.emulators, self.bank = store, emulators, bank

    async def submit(self, to: str = "+31612345678", text: str = "hi") -> Job:
        key, _ = await self.store.write(
            keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
        )
        job = await self.store.write(
            jobs.insert_job,
            key_id=key.key_id,
            pin="4711",
            to=to,
            message=text,
            parts=1,
            encoding="gsm7",
        )
        self.bank.submit(job)
        return job

    def modem_of(self, device_id: str) -> Any:
        return next(m for m in self.emulators.modems if m.profile.imei == device_id)


@pytest.fixture
async def rig(store: Store, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    overrides = getattr(request, "param", {})
    emulators = EmulatedBank.create(
        2,
        seed=3,
        profile_overrides={"send_latency_s": (0.0, 0.01), "report_delay_s": 0.01, **overrides},
    )
    await emulators.start()
    bank = Bank(store)
    await bank.start()

    def factory(port: str) -> Any:
        return registry.factory(registry.SerialModem(port, "4711", timeouts=FAST))

    for modem in emulators.modems:
        assert await bank.attach(factory(modem.port)) is not None
    yield Rig(store, emulators, bank)
    await bank.close()
    await emulators.close()


async def test_job_goes_out_once_and_is_delivered(rig: Rig) -> None:
    job = await rig.submit()
    done = await wait_state(rig.store, job.job_id, JobState.DELIVERED)
    accepted = [m for modem in rig.emulators.modems for m in modem.accepted]
    assert len(accepted) == 1 and accepted[0].imei == done.device_id
    rows = await rig.store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == ["sms.sent", "sms.delivered"]


@pytest.mark.parametrize("rig", [{"send_latency_s": (1.0, 1.0)}], indirect=True)
async def test_unplug_mid_send_is_unknown_and_the_pool_goes_on(rig: Rig) -> None:
    job = await rig.submit()
    sending = await wait_state(rig.store, job.job_id, JobState.SENDING)
    await asyncio.sleep(0.3)  # Ctrl-Z written; the network is "working"
    assert sending.device_id is not None
    rig.modem_of(sending.device_id).unplug()
    unknown = await wait_state(rig.store, job.job_id, JobState.UNKNOWN)
    assert unknown.error
    rows = await rig.store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == ["sms.unknown"]
    assert [o.device_id for o in rig.bank.offers("4711")] != [sending.device_id]
    assert rig.bank.workers[sending.device_id].state is DeviceState.GONE
    after = await rig.submit(to="+31600000001")
    sent = await wait_state(rig.store, after.job_id, JobState.SENT, JobState.DELIVERED)
    assert sent.device_id != sending.device_id


async def test_idle_unplug_leaves_the_pool_at_once(rig: Rig) -> None:
    gone = rig.emulators.modems[0]
    gone.unplug()
    async with asyncio.timeout(5):
        while gone.profile.imei in {o.device_id for o in rig.bank.offers("4711")}:
            await asyncio.sleep(0.02)
    job = await rig.submit()
    done = await wait_state(rig.store, job.job_id, JobState.DELIVERED)
    assert done.device_id == rig.emulators.modems[1].profile.imei


async def test_hung_modem_hands_the_job_to_another(rig: Rig) -> None:
    hung = rig.emulators.modems[0]
    hung.hang()
    jobs_ = [await rig.submit(to=f"+3160000000{n}") for n in range(3)]
    for job in jobs_:
        done = await wait_state(rig.store, job.job_id, JobState.DELIVERED)
        assert done.device_id == rig.emulators.modems[1].profile.imei
    assert hung.accepted == []
    assert rig.bank.workers[hung.profile.imei].state is DeviceState.BACKING_OFF


@pytest.mark.parametrize("rig", [{"cms_error": 21, "cms_error_rate": 1.0}], indirect=True)
async def test_permanent_cms_error_fails_the_job(rig: Rig) -> None:
    job = await rig.submit()
    failed = await wait_state(rig.store, job.job_id, JobState.FAILED)
    assert "+CMS ERROR: 21" in (failed.error or "")
    rows = await rig.store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == ["sms.failed"]


@pytest.mark.parametrize("rig", [{"tp_status": 0x46}], indirect=True)
async def test_failed_status_report_fails_the_job(rig: Rig) -> None:
    job = await rig.submit()
    failed = await wait_state(rig.store, job.job_id, JobState.FAILED)
    rows = await rig.store.read(events.list_events, job.job_id)
    assert [r["type"] for r in rows] == ["sms.sent", "sms.failed"]
    assert "0x46" in (failed.error or "")


@pytest.mark.parametrize("rig", [{"send_latency_s": (0.5, 0.5)}], indirect=True)
async def test_drain_lets_the_send_in_flight_finish_and_claims_nothing_new(rig: Rig) -> None:
    # In flight once its AT+CMGS= is on the wire: the job's `sending` row alone is also a claim
    # whose worker has not resumed yet, which a drain rightly cancels and puts back (untried).
    on_wire = asyncio.Event()
    for modem in rig.emulators.modems:
        modem.on_input = lambda data: on_wire.set() if b"AT+CMGS=" in data else None
    first = await rig.submit()
    await asyncio.wait_for(on_wire.wait(), timeout=10)
    await rig.bank.drain(timeout_s=5)
    done = await rig.store.read(jobs.get_job, first.job_id)
    assert done is not None and done.state in (JobState.SENT, JobState.DELIVERED)
    later = await rig.submit(to="+31600000009")
    await asyncio.sleep(0.3)
    waiting = await rig.store.read(jobs.get_job, later.job_id)
    assert waiting is not None and waiting.state is JobState.QUEUED  # left for the next start
    assert sum(len(m.accepted) for m in rig.emulators.modems) == 1


@pytest.mark.parametrize("rig", [{"send_latency_s": (0.02, 0.05)}], indirect=True)
@pytest.mark.parametrize("after_s", [0.05, 0.13, 0.21])
async def test_drain_in_a_backlog_leaves_no_job_claimed_and_unsent(
    rig: Rig, after_s: float
) -> None:
    """Each send's record claims the next job: a drain at any moment finishes the send in
    flight and gives the job claimed for the next one back (none stays `sending`)."""
    backlog = [await rig.submit(to=f"+3160000{n:04d}") for n in range(12)]
    await asyncio.sleep(after_s)
    await rig.bank.drain(timeout_s=5)
    await rig.bank.close()
    states = [
        job.state
        for job in [await rig.store.read(jobs.get_job, j.job_id) for j in backlog]
        if job is not None
    ]
    went = sum(len(m.accepted) for m in rig.emulators.modems)
    assert JobState.SENDING not in states, states
    assert states.count(JobState.QUEUED) == len(backlog) - went, states


HEALTH_S = 120.0  # the idle device's next look without a job: far past the test's wait
PROMPT_S = 10.0  # the job put meanwhile is sent within this


async def test_a_job_put_while_the_device_tidies_is_sent_at_once(store: Store) -> None:
    """A job put while an idle device tidies (frees its stored messages: a round trip to the
    modem) is the device's at once, not at its next health check; put from the emulator's
    own hook on ``AT+CMGD``."""
    emulators = EmulatedBank.create(
        1, seed=5, profile_overrides={"send_latency_s": (0.05, 0.06), "report_delay_s": 0.01}
    )
    await emulators.start()
    bank = Bank(store, recovery=RecoverySettings(probe_interval_s=HEALTH_S))
    await bank.start()
    (modem,) = emulators.modems
    spec = registry.SerialModem(modem.port, "4711", timeouts=FAST)
    try:
        assert await bank.attach(registry.factory(spec)) is not None
        key, _ = await store.write(
            keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
        )
        made = [
            await store.write(
                jobs.insert_job, key_id=key.key_id, pin="4711", to=f"+3161234567{n}",
                message="hi", parts=1, encoding="gsm7",
            )
            for n in range(3)
        ]  # fmt: skip
        first, second, third = made
        put: list[bytes] = []

        def on_input(data: bytes) -> None:  # the device frees what it read: it tidies
            if b"AT+CMGD" in data and not put:
                put.append(data)
                bank.submit(third)

        modem.on_input = on_input
        bank.submit(first)  # a backlog of two: the first's report comes during the second
        bank.submit(second)  # send, is read and committed, and freed when the device idles
        await wait_state(store, second.job_id, JobState.SENT, JobState.DELIVERED)
        await wait_state(store, third.job_id, JobState.SENT, JobState.DELIVERED, timeout=PROMPT_S)
        assert put  # it was put during the tidy's AT+CMGD
    finally:
        await bank.close()
        await emulators.close()


async def test_a_stop_while_a_worker_claims_puts_the_job_back_not_sending(rig: Rig) -> None:
    """A SIGTERM while a device's claim is being written: the drain cancels that (idle) worker,
    which waits for its claim and puts the job back; ``close`` must not cancel it again in
    the middle of that, else the job stays `sending` although nothing was sent."""
    pool = rig.bank.pool("4711")
    await until(lambda: len(pool.idle_devices()) == 2)
    key, _ = await rig.store.write(
        keys.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
    )
    job = await rig.store.write(
        jobs.insert_job, key_id=key.key_id, pin="4711", to="+31612340001", message="hi",
        parts=1, encoding="gsm7",
    )  # fmt: skip
    gate = threading.Event()
    blocker = asyncio.ensure_future(rig.store.write(lambda _db: gate.wait(30)))
    try:
        rig.bank.submit(job)  # a device takes it; its claim waits behind the blocked writer
        await until(lambda: len(pool) == 0 and len(pool.idle_devices()) == 1)

        async def stop() -> None:  # the service's order: drain, other steps, close
            await rig.bank.drain(timeout_s=10)
            for _ in range(3):
                await asyncio.sleep(0)
            await rig.bank.close()

        stopping = asyncio.create_task(stop())
        # Without the fix the stop ends at once (the claiming worker cancelled twice); with
        # it the drain waits for that worker, which waits for the store.
        await asyncio.wait({stopping}, timeout=1.0)
        gate.set()
        await blocker
        await stopping
        back = await rig.store.read(jobs.get_job, job.job_id)
        assert back is not None and back.state is JobState.QUEUED, back
        assert sum(len(m.accepted) for m in rig.emulators.modems) == 0
    finally:
        gate.set()
