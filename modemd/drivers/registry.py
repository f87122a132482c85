"""The one place a device description becomes a driver (python-can's ``BACKENDS``).

A description is plain data: a modem's AT port (from the config, a ``--device`` flag, udev
hot-plug, or an emulated modem's pty) or an SMSGate phone's local server (a ``[[phones]]``
entry, a tethered phone found by udev, or an emulated phone). ``Wiring`` carries the callbacks
the runtime gives every driver it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from modemd.drivers.base import (
    GoneHandler,
    InboundHandler,
    InboxCursor,
    PhaseHandler,
    ReportHandler,
    SmsDevice,
)
from modemd.drivers.modem_inbox import MULTIPART_TIMEOUT_S
from modemd.drivers.phone import PhoneDriver
from modemd.drivers.phone_protocol import DEFAULT_TIMINGS, Pacer, PhoneTimings
from modemd.drivers.serial_at import SerialAtDriver, SimPin, Timeouts
from modemd.model import DeviceLife, PhoneConfig

DEFAULT_TIMEOUTS = Timeouts()


@dataclass(frozen=True, slots=True)
class SerialModem:
    """A GSM modem behind an AT port."""

    port: str
    pin: str
    sim_pin: SimPin | None = None  # a fixed SIM PIN, or a lookup by the SIM's ICCID
    timeouts: Timeouts = DEFAULT_TIMEOUTS


@dataclass(frozen=True, slots=True)
class SmsGatePhone:
    """An Android phone running SMSGate's local server at ``url``."""

    config: PhoneConfig  # credentials, pacing, webhooks
    url: str  # the entry's own url, or the one found for a tethered phone
    pin: str
    timings: PhoneTimings = DEFAULT_TIMINGS


DeviceSpec = SerialModem | SmsGatePhone


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a driver tells the runtime: delivery reports, its death, its opening phases."""

    on_report: ReportHandler | None = None
    on_gone: GoneHandler | None = None
    on_phase: PhaseHandler | None = None
    on_inbound: InboundHandler | None = None  # received SMS; the device frees them once stored
    multipart_timeout_s: float = MULTIPART_TIMEOUT_S  # a long SMS's missing parts: out incomplete
    inbox_cursor: InboxCursor | None = None  # a phone's stored inbox cursor


NO_WIRING = Wiring()
DriverFactory = Callable[[Wiring], SmsDevice]
# What hot-plug is given to put a found device into service: its device_id once attached, None
# when the same device is attached already; raises ``DeviceError`` when it cannot be opened.
Attach = Callable[[DeviceSpec, DeviceLife], Awaitable[str | None]]
Detach = Callable[[str, str], Coroutine[Any, Any, None]]  # (device_id, reason)


def phone_of(
    cfg: PhoneConfig,
    *,
    url: str | None = None,
    pin: str | None = None,
    timings: PhoneTimings | None = None,
) -> SmsGatePhone:
    """The description of the phone of a ``[[phones]]`` entry (at ``url``, when found by udev)."""
    return SmsGatePhone(cfg, url or cfg.url, pin or cfg.pin, timings or DEFAULT_TIMINGS)


def build_modem(spec: SerialModem, wiring: Wiring = NO_WIRING) -> SerialAtDriver:
    return SerialAtDriver(
        spec.port,
        spec.pin,
        sim_pin=spec.sim_pin,
        on_report=wiring.on_report,
        on_gone=wiring.on_gone,
        on_phase=wiring.on_phase,
        on_inbound=wiring.on_inbound,
        timeouts=spec.timeouts,
        multipart_timeout_s=wiring.multipart_timeout_s,
    )


def build_phone(spec: SmsGatePhone, wiring: Wiring = NO_WIRING) -> PhoneDriver:
    cfg = spec.config
    return PhoneDriver(
        spec.url,
        spec.pin,
        username=cfg.username,
        password=cfg.password,
        on_report=wiring.on_report,
        on_gone=wiring.on_gone,
        pacer=Pacer(cfg.pace_parts) if cfg.pace_parts else None,
        timings=spec.timings,
        webhook_url=cfg.webhook_url,
        signing_key=cfg.signing_key,
        on_inbound=wiring.on_inbound,
        inbox_cursor=wiring.inbox_cursor,
    )


def build_driver(spec: DeviceSpec, wiring: Wiring = NO_WIRING) -> SmsDevice:
    """The driver for ``spec``, wired to the runtime's callbacks."""
    if isinstance(spec, SerialModem):
        return build_modem(spec, wiring)
    return build_phone(spec, wiring)


def factory(spec: DeviceSpec) -> DriverFactory:
    """What the bank calls to build the driver of ``spec`` wired to itself."""
    return lambda wiring: build_driver(spec, wiring)
