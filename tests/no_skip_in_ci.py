"""In CI (``CI`` set, as scripts/test does) a skipped test is a failure: every tool a test needs
is installed there, so a skip can only hide a test that never ran. The hook runs in the process
that ran the test, so it holds for pytest-xdist workers too (tests/test_suite_ci.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI={os.environ['CI']}), where nothing may skip: {reason}"
