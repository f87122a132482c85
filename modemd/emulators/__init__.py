"""Emulated devices shipped with modemd: a modem on a pty and the SMSGate phone app over HTTP.

Fakes only at the radio, used by ``--simulate``, ``modemd emulate``, the demos and the tests."""

from modemd.emulators.faults import FaultKind
from modemd.emulators.modem import EmulatedModem, PortState
from modemd.emulators.modem_bank import EmulatedBank, serve
from modemd.emulators.phone import EmulatedPhone, EmulatedPhoneBank
from modemd.emulators.phone_app import AppState, PhoneProfile
from modemd.emulators.phone_webhooks import sign
from modemd.emulators.profile import (
    AcceptedMessage,
    ModemProfile,
    SendRecorder,
    emulated_identity,
)

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
