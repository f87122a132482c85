"""Issue 22 item 10: a multipart job's first reports often come before its last part is
accepted (its parts are recorded together then). Such a report is kept and adopted; the log
says so at INFO, not as a WARNING about a report that matches nothing."""

from __future__ import annotations

import logging

import pytest
from builders import TO, key_and_job, tp_report

from modemd.model import SentPart
from modemd.runtime.bank import Bank
from modemd.store import jobs, reports
from modemd.store.db import Store

pytestmark = pytest.mark.both_engines  # store promises hold on SQLite and PostgreSQL


async def test_an_early_report_names_the_job_it_waits_for(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, _, job = await key_and_job(store, None)
    claimed = await store.write(jobs.claim_job, job.job_id, "imei-1")
    early = await store.write(reports.apply_report, "imei-1", tp_report(40, TO, 0))
    assert early.job is None and early.awaits == job.job_id
    bank = Bank(store)
    await bank.on_report("imei-1", tp_report(41, TO, 0))
    assert f"came before job {job.job_id} recorded its parts; kept for it" in caplog.text
    assert "matches no sent part" not in caplog.text
    await store.write(jobs.mark_sent, claimed, [SentPart(1, 40), SentPart(2, 41)])
    parts = (await store.read(jobs.get_job_detail, job.job_id))["part_details"]
    assert [p["state"] for p in parts] == ["delivered", "delivered"]  # both adopted


async def test_a_report_for_nothing_is_still_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    bank = Bank(store)
    await bank.on_report("imei-1", tp_report(7, "+15550009", 0))
    assert any(
        r.levelno == logging.WARNING and "matches no sent part" in r.getMessage()
        for r in caplog.records
    )
