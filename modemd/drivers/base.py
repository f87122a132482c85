"""What the runtime needs from a device, whatever it is (modem now, phone later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from modemd.model import DeviceInfo, SentPart
from modemd.sms.pdu import StatusReport

ReportHandler = Callable[[str, StatusReport], None]  # (device_id, report)
GoneHandler = Callable[[str], None]  # (device_id)


class SmsDevice(Protocol):
    """A device that sends SMS. Implementations: ``SerialAtDriver``."""

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def signal(self) -> int | None: ...

    async def open(self) -> DeviceInfo:
        """Open and initialise; return the identity read from the device."""
        ...

    async def send_sms(self, to: str, text: str) -> list[SentPart]:
        """Send every part of ``text``; raise ``SendError`` saying what is known."""
        ...

    @property
    def closed(self) -> bool: ...

    async def probe(self) -> bool:
        """Is the device answering? (Aborts any half-done operation first.)"""
        ...

    async def close(self) -> None:
        """Release the device; idempotent."""
        ...
