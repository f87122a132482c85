"""A +CMS ERROR storm: transient rejections on every modem; jobs end sent or failed, once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from modemd.drivers import registry
from modemd.emulators.modem_bank import EmulatedBank
from modemd.runtime.bank import Bank
from modemd.store import jobs, keys
from modemd.store.db import Store

JOBS = 12
SETTLE_S = 60.0


def factory(port: str) -> Any:
    return registry.factory(registry.SerialModem(port, "1"))


async def test_cms_storm_never_duplicates_and_settles(store: Store) -> None:
    emulators = EmulatedBank.create(
        3,
        seed=5,
        profile_overrides={
            "send_latency_s": (0.0, 0.01),
            "report_delay_s": 0.01,
            "cms_error": 42,
            "cms_error_rate": 0.4,
        },
    )  # 42: congestion, transient
    await emulators.start()
    bank = Bank(store)
    await bank.start()
    try:
        for modem in emulators.modems:
            assert await bank.attach(factory(modem.port)) is not None
        key, _ = await store.write(
            keys.create_key, pin="1", allow_ips=[], over_ip=True, ipn_url=None
        )
        ids = []
        for n in range(JOBS):
            job = await store.write(
                jobs.insert_job,
                key_id=key.key_id,
                pin="1",
                to=f"+1555{n:04d}",
                message=f"storm {n}",
                parts=1,
                encoding="gsm7",
            )
            bank.submit(job)
            ids.append(job.job_id)
        async with asyncio.timeout(SETTLE_S):
            while True:
                rows = [await store.read(jobs.get_job, i) for i in ids]
                states = Counter(row.state.value for row in rows)
                if states["queued"] == states["sending"] == 0:
                    break
                await asyncio.sleep(0.1)
    finally:
        await bank.close()
        await emulators.close()
    sent = Counter(m.text for modem in emulators.modems for m in modem.accepted)
    assert all(count == 1 for count in sent.values())  # never twice
    for job_id in ids:
        job = await store.read(jobs.get_job, job_id)
        assert job.state.value in ("sent", "delivered", "failed")
        if job.state.value == "failed":
            assert "+CMS ERROR: 42" in (job.error or "")
            assert sent[job.message] == 0  # failed means the network has nothing
        else:
            assert sent[job.message] == 1
    tries = [await store.read(jobs.attempts, i) for i in ids]
    print(
        f"\ncms storm: {JOBS} jobs, final {dict(states)}, attempts {sum(tries)}, "
        f"jobs retried {sum(t > 1 for t in tries)}, sent once each: {len(sent)}"
    )
    assert sum(tries) > JOBS  # the storm really rejected some sends
