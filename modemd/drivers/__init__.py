"""The only code that talks to a device: the contract in model terms (``base``), the registry
that turns a description into a driver, the modem over an AT port, the phone over HTTP."""

from modemd.drivers.base import (
    GoneHandler,
    Hintable,
    PhaseHandler,
    RadioHealth,
    Reopenable,
    ReportHandler,
    SmsDevice,
)
from modemd.drivers.phone import PhoneDriver
from modemd.drivers.phone_protocol import Pacer, PhoneRequestError, PhoneTimings, basic_auth
from modemd.drivers.registry import (
    Attach,
    Detach,
    DeviceSpec,
    DriverFactory,
    SerialModem,
    SmsGatePhone,
    Wiring,
    build_driver,
    build_modem,
    build_phone,
    factory,
    phone_of,
)
from modemd.drivers.serial_at import SerialAtDriver, SimPin, Timeouts

__all__ = [
    "Attach",
    "Detach",
    "DeviceSpec",
    "DriverFactory",
    "GoneHandler",
    "Hintable",
    "Pacer",
    "PhaseHandler",
    "PhoneDriver",
    "PhoneRequestError",
    "PhoneTimings",
    "RadioHealth",
    "Reopenable",
    "ReportHandler",
    "SerialAtDriver",
    "SerialModem",
    "SimPin",
    "SmsDevice",
    "SmsGatePhone",
    "Timeouts",
    "Wiring",
    "basic_auth",
    "build_driver",
    "build_modem",
    "build_phone",
    "factory",
    "phone_of",
]
