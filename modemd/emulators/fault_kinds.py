"""The faults an emulated modem can be given (``emulators.faults`` plays them): a module of its
own, so the simulator's route and CLI know the names without loading the emulators."""

from __future__ import annotations

import enum


class FaultKind(enum.StrEnum):
    """What goes wrong; the value is what the simulator route and CLI take."""

    HANG_UNTIL_CFUN = "hang_until_cfun"
    HANG_UNTIL_USB_RESET = "hang_until_usb_reset"
    LOSE_REGISTRATION = "lose_registration"
    PIN_AFTER_RESET = "pin_after_reset"
    NEVER_RECOVER = "never_recover"
    CLEAR = "clear"
