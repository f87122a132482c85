"""What the runtime needs from a device, in model terms, whatever it is (a modem, a phone)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

from modemd.model import (
    DeliveryReport,
    DeviceInfo,
    DeviceState,
    HintVerdict,
    InboundSms,
    RadioStatus,
    Registration,
    SentPart,
)

# (device_id, report) -> optionally an awaitable that ends when the report is stored
ReportHandler = Callable[[str, DeliveryReport], Awaitable[object] | None]
GoneHandler = Callable[[str], None]  # (device_id)
# (device_id, sms) -> optionally an awaitable that ends when the message is stored
InboundHandler = Callable[[str, InboundSms], Awaitable[object] | None]
# device_id -> the app's time (Unix s) of the newest SMS stored from it; None: none stored
InboxCursor = Callable[[str], Awaitable[float | None]]
JobsKnown = Callable[[list[str]], Awaitable[set[str]]]  # job ids -> those the store has
PhaseHandler = Callable[[DeviceState], None]  # a step of opening: identifying, searching ...


class SmsDevice(Protocol):
    """A device that sends SMS. Implementations: ``SerialAtDriver``, ``PhoneDriver``."""

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def signal(self) -> int | None: ...

    async def open(self) -> DeviceInfo:
        """Open and initialise; return the identity read from the device."""
        ...

    async def send_sms(self, to: str, text: str, *, job_id: str = "") -> list[SentPart]:
        """Send every part of ``text`` (of the job ``job_id``, "" for none); raise
        ``SendError`` saying what is known."""
        ...

    @property
    def closed(self) -> bool: ...

    def ready_in_s(self) -> float:
        """Seconds before the device's own rate limit allows another send (0: now)."""
        ...

    async def probe(self) -> bool:
        """Is the device answering? (Aborts any half-done operation first.)"""
        ...

    async def close(self) -> None:
        """Release the device; idempotent."""
        ...


@runtime_checkable
class SubmitAware(Protocol):
    """A device that says when a message may leave it: ``on_submit`` runs just before the
    bytes that submit it (a modem's PDU and Ctrl-Z) are written, once per part; False: they
    must not be (nothing is sent, a known outcome). A job never that far goes back to the
    queue after a crash (``store.submits``)."""

    on_submit: Callable[[], bool] | None


@runtime_checkable
class Resumable(Protocol):
    """A device that keeps messages across our restarts (a phone's app): it follows again
    those found unfinished at open whose jobs ``known`` says this daemon has, not another's."""

    async def resume(self, known: JobsKnown) -> None: ...


@runtime_checkable
class Tidy(Protocol):
    """A device with housekeeping best done while it idles (a modem frees the stored status
    reports it has read and committed: ``AT+CMGD``), never between two sends of a backlog."""

    async def tidy(self) -> None: ...


@runtime_checkable
class RadioHealth(Protocol):
    """A device that tells its network registration and signal (a modem; a phone does not)."""

    async def check_registration(self) -> Registration:
        """Is the device registered on a network (and if not, why)?"""
        ...

    async def check_signal(self) -> int | None:
        """The signal (+CSQ <rssi>, 0..31, 99 unknown)."""
        ...


@runtime_checkable
class Hintable(Protocol):
    """A device whose app may tell us, signed, that something changed (a phone's webhook)."""

    def hint(self, body: bytes, headers: Mapping[str, str], now: float) -> HintVerdict:
        """Check the hint (signature, freshness, shape, duplicates) and act on it."""
        ...


@runtime_checkable
class Reopenable(Protocol):
    """A device that can be revived by closing and reopening its port (a modem)."""

    async def reopen(self) -> str:
        """Reopen and set the session up again; return the device_id it now answers with."""
        ...


@runtime_checkable
class Resettable(Protocol):
    """A device whose radio and module can be reset (a modem); each returns the device_id it
    answers with after starting over."""

    async def catch_up(self) -> None:
        """After ESC + AT revived it: read what it stored meanwhile (status reports)."""
        ...

    async def reset_radio(self, timeout_s: float) -> str: ...

    async def reset_module(self, timeout_s: float, boot_s: float) -> str: ...


@runtime_checkable
class RadioDetails(Protocol):
    """A device that names its network and its own number (a modem)."""

    async def radio_status(self) -> RadioStatus:
        """Operator, registration, own number, as of now."""
        ...


@runtime_checkable
class IdentifiesLater(Protocol):
    """A device whose open may put off what sending does not need (a modem's maker, model and
    IMSI, its signal, own number and operator) until ``identify_rest``: a bank opening hundreds
    at once is ready sooner."""

    identify_later: bool  # set before ``open``; the first open only

    async def identify_rest(self) -> DeviceInfo:
        """What ``open`` put off (nothing when it put nothing off), once the device idles; the
        identity with it."""
        ...
