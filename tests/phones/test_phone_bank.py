"""A phone in the bank: the same pools, workers and job states as a modem."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from modemd.drivers.phone import PhoneDriver
from modemd.drivers.phone_protocol import Pacer
from modemd.emulators.phone import EmulatedPhone
from modemd.model import DeviceState, Job, JobState
from modemd.runtime.bank import Bank
from modemd.runtime.worker import DeviceWorker
from modemd.store import jobs as job_rows
from modemd.store import keys as key_rows
from modemd.store.db import Store

from .conftest import FAST

WAIT_S = 10.0


async def queue_job(store: Store, bank: Bank, to: str) -> Job:
    key, _ = await store.write(
        key_rows.create_key, pin="4711", allow_ips=[], over_ip=True, ipn_url=None
    )
    job = await store.write(
        job_rows.insert_job,
        key_id=key.key_id,
        pin="4711",
        to=to,
        message="hi",
        parts=1,
        encoding="gsm7",
    )
    bank.submit(job)
    return job


async def attach(bank: Bank, phone: EmulatedPhone) -> DeviceWorker | None:
    return await bank.attach(
        lambda wiring: PhoneDriver(
            phone.url,
            "4711",
            password=phone.profile.password,
            timings=FAST,
            on_report=wiring.on_report,
            on_gone=wiring.on_gone,
        )
    )


async def state_of(store: Store, job: Job, wanted: JobState) -> Job:
    async with asyncio.timeout(WAIT_S):
        while True:
            current = await store.read(job_rows.get_job, job.job_id)
            assert current is not None
            if current.state is wanted:
                return current
            await asyncio.sleep(0.02)


async def test_delivered_through_a_phone_by_polling(store: Store, make_phone: Any) -> None:
    phone = await make_phone()
    bank = Bank(store)
    await bank.start()
    try:
        worker = await attach(bank, phone)
        assert worker is not None
        assert [o.kind for o in bank.offers("4711")] == ["phone"]
        job = await state_of(
            store, await queue_job(store, bank, "+393330000001"), JobState.DELIVERED
        )
        assert job.device_id == "phone0"
    finally:
        await bank.close()


async def test_phone_gone_mid_send_leaves_the_job_unknown(store: Store, make_phone: Any) -> None:
    phone = await make_phone(process_delay_s=10.0)
    bank = Bank(store)
    await bank.start()
    try:
        worker = await attach(bank, phone)
        assert worker is not None
        job = await queue_job(store, bank, "+393330000002")
        async with asyncio.timeout(WAIT_S):
            while not phone.messages:
                await asyncio.sleep(0.01)
        await phone.go_away()
        unknown = await state_of(store, job, JobState.UNKNOWN)
        assert (
            unknown.device_id == "phone0" and await store.read(job_rows.attempts, job.job_id) == 1
        )
        async with asyncio.timeout(WAIT_S):
            while worker.state is not DeviceState.GONE:
                await asyncio.sleep(0.01)
        assert bank.offers("4711") == []  # out of its pool at once
        assert len(phone.messages) == 1  # never resent
    finally:
        await bank.close()


async def test_an_unknown_job_is_settled_when_its_phone_comes_back(
    store: Store, make_phone: Any
) -> None:
    """Unplugged while the app held the message (Pending): the job is unknown; plugged in
    again, the phone sends it, and its delivery settles the job: once, never resent."""
    phone = await make_phone(process_delay_s=10.0)
    bank = Bank(store)
    await bank.start()
    try:
        assert await attach(bank, phone) is not None
        job = await queue_job(store, bank, "+393330000003")
        async with asyncio.timeout(WAIT_S):
            while not phone.messages:
                await asyncio.sleep(0.01)
        await phone.go_away()
        await state_of(store, job, JobState.UNKNOWN)
        phone.profile = dataclasses.replace(phone.profile, process_delay_s=0.02)
        await phone.start()  # plugged in again, the message still Pending in the app
        async with asyncio.timeout(WAIT_S):
            while await attach(bank, phone) is None:  # the old worker may still be leaving
                await asyncio.sleep(0.05)
        delivered = await state_of(store, job, JobState.DELIVERED)
        assert delivered.device_id == "phone0"
        assert len(phone.messages) == 1 and await store.read(job_rows.attempts, job.job_id) == 1
    finally:
        await bank.close()


async def test_a_paced_phone_leaves_the_next_job_to_an_idle_device(
    store: Store, make_phone: Any
) -> None:
    """At its rate limit a phone does not take a job; another device of the pool sends it."""
    phones = [await make_phone(), await make_phone()]
    bank = Bank(store)
    await bank.start()

    def paced(phone: EmulatedPhone) -> Any:
        return lambda wiring: PhoneDriver(
            phone.url,
            "4711",
            password=phone.profile.password,
            timings=FAST,
            on_report=wiring.on_report,
            on_gone=wiring.on_gone,
            pacer=Pacer(max_parts=1, window_s=60),
        )

    try:
        assert await bank.attach(paced(phones[0])) is not None
        first = await state_of(
            store, await queue_job(store, bank, "+393330000011"), JobState.DELIVERED
        )
        # The first phone has used its budget; the second joins the pool after it.
        assert await bank.attach(paced(phones[1])) is not None
        second = await state_of(
            store, await queue_job(store, bank, "+393330000012"), JobState.DELIVERED
        )
        assert (first.device_id, second.device_id) == ("phone0", "phone1")
    finally:
        await bank.close()
