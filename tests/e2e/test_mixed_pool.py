"""End to end: ``modemd serve --simulate 2 --simulate-phones 2``: one pool of modems and SMSGate
phones, a batch over real HTTP, IPNs to a real receiver, the emulated network's record as judge."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from modemd.emulators.profile import SendRecorder

from .daemon import create_key, ipn_listener, running_daemon, send_batch, sent_then_delivered

JOBS = 24
DONE_TIMEOUT_S = 120.0


async def test_a_batch_through_modems_and_phones_in_one_pool(tmp_path: Path) -> None:
    db, record = tmp_path / "modemd.db", tmp_path / "network.jsonl"
    numbers = [f"+3933311{n:05d}" for n in range(JOBS)]
    async with ipn_listener() as (ipns, ipn_url):
        key = await asyncio.to_thread(create_key, db, ipn_url)
        args = ["--simulate", "2", "--simulate-phones", "2", "--pin", "4711"]
        async with running_daemon(*args, "--db", str(db), "--record", str(record)) as port:
            answers = await send_batch(port, key, numbers)
            await ipns.wait(2 * JOBS, DONE_TIMEOUT_S)

    kind_of = {r["device_id"]: r["kind"] for a in answers for r in a["records"]}
    assert sorted(Counter(kind_of.values()).items()) == [("modem", 2), ("phone", 2)]
    by_job = sent_then_delivered(ipns.received, {a["job_id"] for a in answers})

    accepted = await asyncio.to_thread(SendRecorder.read, record)
    assert Counter(m.to for m in accepted) == Counter(numbers)  # each job went out once
    sender_of = {m.to: m.imei for m in accepted}
    senders = {events[0]["data"]["device_id"] for events in by_job.values()}
    for events in by_job.values():
        assert sender_of[events[0]["data"]["to"]] == events[0]["data"]["device_id"]
    assert {kind_of[d] for d in senders} == {"modem", "phone"}  # both kinds sent
