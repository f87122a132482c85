"""Fixtures: an emulated phone on 127.0.0.1 and drivers wired to collect what they report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modemd.drivers.phone import PhoneDriver
from modemd.drivers.phone_protocol import PhoneTimings
from modemd.emulators.phone import EmulatedPhone, PhoneProfile
from modemd.emulators.profile import SendRecorder
from modemd.model import DeliveryReport

FAST = PhoneTimings(
    http_s=1.0, processed_s=2.0, send_poll_s=0.01, poll_s=0.02, liveness_s=0.2, retry_pause_s=0.01
)


@dataclass
class Seen:
    """What a driver told its bank."""

    reports: list[DeliveryReport] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


@pytest.fixture
async def make_phone(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start emulated phones with profile knobs; all closed at the end."""
    phones: list[EmulatedPhone] = []

    async def make(**knobs: Any) -> EmulatedPhone:
        profile = PhoneProfile(device_id=f"phone{len(phones)}", password="s3cret12", **knobs)
        recorder = SendRecorder(tmp_path / f"network{len(phones)}.jsonl")
        phone = EmulatedPhone(profile, name=f"phone{len(phones)}", recorder=recorder)
        phones.append(phone)
        await phone.start()
        return phone

    yield make
    for phone in phones:
        await phone.close()


@pytest.fixture
async def make_driver() -> AsyncIterator[Callable[..., Any]]:
    """Build (not open) drivers for a phone; every one closed at the end."""
    drivers: list[PhoneDriver] = []

    def make(phone: EmulatedPhone, seen: Seen | None = None, **kwargs: Any) -> PhoneDriver:
        seen = seen if seen is not None else Seen()
        kwargs.setdefault("password", phone.profile.password)
        kwargs.setdefault("timings", FAST)
        driver = PhoneDriver(
            phone.url,
            "4711",
            on_report=lambda _device, report: seen.reports.append(report),
            on_gone=seen.gone.append,
            **kwargs,
        )
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        await driver.close()
