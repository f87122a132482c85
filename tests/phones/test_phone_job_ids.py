"""A phone's message ids made of the job's id: they fit the app, give back their job and refs,
a job sent again on the same phone takes its next try, and two daemons on one phone each poll
again, after a restart, only the messages of their own jobs (the store says which)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from builders import key_and_job

from modemd.drivers.base import JobsKnown, Resumable
from modemd.drivers.phone_protocol import (
    JOB_ID,
    JOB_TRIES,
    MAX_ID_CHARS,
    REF_BITS,
    id_ref,
    job_message_ids,
    job_of,
    tracked_from,
)
from modemd.model import DeliveryOutcome
from modemd.store import transitions
from modemd.store.db import Store
from modemd.store.jobs import new_job_id

from .conftest import Seen
from .test_phone_driver import TO, until


def test_a_jobs_ids_fit_the_app_and_give_back_the_job_and_its_refs() -> None:
    refs: set[int] = set()
    for _ in range(200):
        job_id = new_job_id()
        ids = job_message_ids(job_id, 24)  # a 1600-character UCS-2 text has 24 parts
        assert ids is not None and len(set(ids)) == JOB_TRIES
        for sent in ids:
            assert len(sent) <= MAX_ID_CHARS and JOB_ID.match(sent) and job_of(sent) == job_id
            back = tracked_from({"id": sent, "recipients": [{"phoneNumber": TO}]}, 0.0)
            assert back is not None and (back.ref, back.parts, back.job_id) == (
                id_ref(sent),
                24,
                job_id,
            )
            assert back.ref + 24 < 2**REF_BITS  # every part's ref is exact in JSON
            refs.add(back.ref)
    assert len(refs) == 200 * JOB_TRIES
    assert job_message_ids("campaign-row-7", 1) is None  # another form: a drawn id instead


async def test_a_job_sent_again_on_the_same_phone_takes_its_next_try(
    make_phone: Any, make_driver: Any
) -> None:
    phone = await make_phone()
    seen = Seen()
    driver = make_driver(phone, seen)
    await driver.open()
    job_id = new_job_id()
    first, second = (job_message_ids(job_id, 1) or [])[:2]
    phone.accept(first, "an earlier try of the job", [TO])  # failed here before, say
    (part,) = await driver.send_sms(TO, "this try", job_id=job_id)
    assert part.mr == id_ref(second) and phone.messages[second].text == "this try"
    await until(lambda: len(seen.reports) == 1)
    assert seen.reports[0].reference == id_ref(second)


async def _store(path: Path) -> Store:
    store = Store(str(path))
    await store.start()
    return store


def _known(store: Store) -> JobsKnown:
    return lambda ids: store.read(transitions.known_jobs, ids)


async def test_two_daemons_on_one_phone_resume_only_their_own_jobs(
    make_phone: Any, make_driver: Any, tmp_path: Path
) -> None:
    phone = await make_phone(delivered_delay_s=1.0)
    stores = [await _store(tmp_path / "a.db"), await _store(tmp_path / "b.db")]
    try:
        jobs = [(await key_and_job(store, None, to=TO))[2] for store in stores]
        before = [make_driver(phone) for _ in stores]
        refs = []
        for driver, job in zip(before, jobs, strict=True):
            await driver.open()
            (part,) = await driver.send_sms(TO, f"from {job.job_id}", job_id=job.job_id)
            refs.append(part.mr)
        for driver in before:
            await driver.close()  # both daemons restart before the phone has delivered
        seen = [Seen(), Seen()]
        after = [make_driver(phone, s) for s in seen]
        for driver, store in zip(after, stores, strict=True):
            await driver.open()
            assert isinstance(driver, Resumable)
            await driver.resume(_known(store))
        await until(lambda: all(s.reports for s in seen))
        await asyncio.sleep(0.3)  # the other daemon's message is delivered too by now
        for mine, ref in zip(seen, refs, strict=True):
            assert [(r.reference, r.outcome) for r in mine.reports] == [
                (ref, DeliveryOutcome.DELIVERED)
            ]
        assert await stores[0].read(transitions.known_jobs, [j.job_id for j in jobs]) == {
            jobs[0].job_id
        }
    finally:
        for store in stores:
            await store.close()
