"""The runtime's side of a modem's received SMS, for driver tests over real ptys: commits each
message and report after a short pause, noting what ``seen()`` said at that moment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from modemd.drivers import registry
from modemd.emulators.modem import EmulatedModem
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeliveryReport, InboundSms

COMMIT_S = 0.02  # a commit takes a moment: a premature delete or acknowledgement shows


class Committer:
    """Collects (item, what ``seen()`` said at its commit); ``hold``: commits wait for it."""

    def __init__(
        self, seen: Callable[[], Any] = lambda: None, *, hold: asyncio.Event | None = None
    ) -> None:
        self._seen = seen
        self._hold = hold
        self.reports: list[tuple[DeliveryReport, Any]] = []
        self.messages: list[tuple[InboundSms, Any]] = []

    @property
    def texts(self) -> dict[str, str | None]:
        return {sms.sender: sms.text for sms, _ in self.messages}

    def on_report(self, _device_id: str, report: DeliveryReport) -> asyncio.Task[None]:
        return self._later(self.reports, report)

    def on_inbound(self, _device_id: str, sms: InboundSms) -> asyncio.Task[None]:
        return self._later(self.messages, sms)

    def _later(self, into: list[tuple[Any, Any]], item: object) -> asyncio.Task[None]:
        async def commit() -> None:
            if self._hold is not None:
                await self._hold.wait()
            await asyncio.sleep(COMMIT_S)
            into.append((item, self._seen()))

        return asyncio.ensure_future(commit())


async def until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll ``condition`` (generous deadline: the machine may be loaded)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def driver_for(modem: EmulatedModem, committer: Committer, **wired: float) -> registry.SmsDevice:
    """A driver of ``modem`` wired to ``committer`` (``wired``: more Wiring fields)."""
    wiring = registry.Wiring(
        on_report=committer.on_report, on_inbound=committer.on_inbound, **wired
    )
    return registry.build_driver(registry.SerialModem(modem.port, "4711"), wiring)


@contextlib.asynccontextmanager
async def opened(modem: EmulatedModem, committer: Committer) -> AsyncIterator[registry.SmsDevice]:
    """A driver of ``modem`` wired to ``committer``, open for the block."""
    driver = driver_for(modem, committer)
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


def tap_input(modem: EmulatedModem) -> bytearray:
    """Everything the host writes to ``modem`` from now on."""
    written = bytearray()
    modem.on_input = written.extend
    return written


@contextlib.asynccontextmanager
async def emulated_driver(
    seed: int, committer: Committer, **profile: Any
) -> AsyncIterator[tuple[EmulatedModem, registry.SmsDevice]]:
    """One emulated modem with ``profile`` and its open driver, wired to ``committer``."""
    async with EmulatedBank.create(1, seed=seed, profile_overrides=profile) as bank:
        modem = bank.modems[0]
        async with opened(modem, committer) as driver:
            yield modem, driver


def commands_seen(modem: EmulatedModem) -> list[str]:
    """Every command line ``modem`` reads from now on."""
    seen: list[str] = []
    modem.on_input = lambda data: seen.extend(
        line.decode(errors="replace") for line in data.split(b"\r") if line.startswith(b"AT")
    )
    return seen
