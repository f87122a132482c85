"""Emulated devices shipped with modemd: a modem on a pty and the SMSGate phone app over HTTP.

Fakes only at the radio, used by ``--simulate``, ``modemd emulate``, the demos and the tests."""

from importlib import import_module
from typing import Any

# Loaded when first asked for (PEP 562): a daemon without --simulate never imports them.
_WHERE = {
    "FaultKind": "modemd.emulators.fault_kinds",
    "EmulatedModem": "modemd.emulators.modem",
    "PortState": "modemd.emulators.modem",
    "EmulatedBank": "modemd.emulators.modem_bank",
    "serve": "modemd.emulators.modem_bank",
    "EmulatedPhone": "modemd.emulators.phone",
    "EmulatedPhoneBank": "modemd.emulators.phone",
    "AppState": "modemd.emulators.phone_app",
    "PhoneProfile": "modemd.emulators.phone_app",
    "sign": "modemd.emulators.phone_webhooks",
    "AcceptedMessage": "modemd.emulators.profile",
    "ModemProfile": "modemd.emulators.profile",
    "SendRecorder": "modemd.emulators.profile",
    "emulated_identity": "modemd.emulators.profile",
}

__all__ = [
    "AcceptedMessage",
    "AppState",
    "EmulatedBank",
    "EmulatedModem",
    "EmulatedPhone",
    "EmulatedPhoneBank",
    "FaultKind",
    "ModemProfile",
    "PhoneProfile",
    "PortState",
    "SendRecorder",
    "emulated_identity",
    "serve",
    "sign",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
