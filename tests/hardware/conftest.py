"""Fixtures for tests against a umockdev testbed (real udev data, fake devices)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .testbed import Bench, Testbed, entered, preloaded


@pytest.fixture
def testbed(tmp_path: Path) -> Iterator[Testbed]:
    """A fresh testbed that this process sees (needs the umockdev preload library)."""
    if not preloaded():
        reason = "needs libumockdev-preload: run the tests with scripts/test (umockdev-wrapper)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    bed = Testbed(tmp_path / "testbed.sock")
    try:
        with entered(bed):
            yield bed
    finally:
        bed.close()


@pytest.fixture
async def bench(testbed: Testbed) -> AsyncIterator[Bench]:
    plugged = Bench(testbed)
    yield plugged
    await plugged.close()
