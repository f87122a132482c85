"""The slowest test files start first, so that under pytest-xdist (scripts/test: a file per
worker, ``--no-loadscope-reorder`` keeps this order) no worker is still in a five-minute file
when the others are done. Measured with ``--durations`` on 2 loaded cores (seconds per file,
setup included); a file not listed keeps its place after these. Update the list when a file
gets much slower or faster (tests/test_suite_ci.py checks that each still exists)."""

from __future__ import annotations

import pytest

SLOW_FIRST = (
    "tests/api_docs/test_fuzz.py",  # 530 s at 40 examples a mode; 41 s alone at 20 (load 3)
    "tests/install/test_install.py",  # 300 s
    "tests/install/test_install_deb.py",  # 360 s with xz (gzip now)
    "tests/campaigns/test_campaign_e2e.py",  # 125 s
    "tests/api_docs/test_samples.py",  # 100 s
    "tests/e2e/test_simulator.py",  # 95 s
    "tests/faults/test_two_hosts.py",  # 90 s
    "tests/e2e/test_inbound.py",  # 80 s
    "tests/clients/test_real_clients.py",  # 80 s
    "tests/e2e/test_conversations_done_when.py",  # 80 s
    "tests/faults/test_kill9.py",  # 75 s
    "tests/campaigns/test_campaign_api.py",  # 65 s
    "tests/test_bench_instructions.py",  # 65 s under load (a driver under valgrind)
    "tests/api_docs/test_contract.py",  # 55 s
    "tests/observe/test_console_browser.py",  # 55 s
    "tests/test_sms_deliver_props.py",  # 55 s
    "tests/api_docs/test_fuzz_inputs.py",  # 50 s
    "tests/faults/test_kill9_inbound.py",  # 50 s
    "tests/test_cli_errors.py",  # 50 s
)
_RANK = {path: rank for rank, path in enumerate(SLOW_FIRST)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stable sort by file rank: each file's tests stay together and in their order."""
    items.sort(key=lambda item: _RANK.get(item.nodeid.split("::", 1)[0], len(SLOW_FIRST)))
