"""A status report's write as the bank hands it to a driver: the store's future (no task), the
commit's outcome to whoever awaits it, and a line for the sysadmin from its callback: what was
stored, or why not (a full disk here)."""

from __future__ import annotations

import logging

import pytest
from builders import tp_report

from modemd.errors import StoreError
from modemd.runtime.reports import apply_report
from modemd.store.db import Store


async def test_an_unmatched_report_is_stored_and_said(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modemd.runtime.bank"):
        result = await apply_report(store, "imei-1", tp_report(7, "+31612345678", 0))
    assert result.job is None
    assert "status report MR 7 for +31612345678" in caplog.text and "matches no" in caplog.text


@pytest.mark.sqlite_only  # the file is made full with PRAGMA max_page_count
async def test_a_report_not_stored_is_an_error_line_and_the_awaiters_error(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.write(
        lambda db: db.execute(
            "PRAGMA max_page_count = " + str(db.execute("PRAGMA page_count").fetchone()[0])
        )
    )
    failed = None
    with caplog.at_level(logging.ERROR, logger="modemd.runtime.bank"):
        for mr in range(200):  # unmatched reports are kept: rows until the file is full
            try:
                await apply_report(store, "imei-1", tp_report(mr % 256, f"+3161234{mr:04d}", 0))
            except StoreError:
                failed = mr % 256
                break
    assert failed is not None, "the database never filled up"
    assert f"imei-1: status report MR {failed} not stored" in caplog.text
