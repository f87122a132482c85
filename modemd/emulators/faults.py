"""Faults an emulated modem can be given, to watch modemd's recovery work (tests, demos).

Each fault is cleared only by the step it names, as the firmware bugs it stands for are:

- ``hang_until_cfun``: answers nothing (ESC, AT, a reopened port) until an ``AT+CFUN=...``.
- ``hang_until_usb_reset``: answers nothing, not even AT+CFUN, until a USB reset (the port goes
  away and a new one with the same IMEI appears).
- ``lose_registration``: the network drops the modem (``+CREG: 2`` and the like where the host
  enabled those URCs) until ``clear``.
- ``pin_after_reset``: hangs until AT+CFUN, after which the SIM asks for its PIN again.
- ``never_recover``: answers nothing, whatever is tried, until ``clear``.
- ``clear``: every fault ends at once.
"""

from __future__ import annotations

import logging
import re

from .fault_kinds import FaultKind
from .modem_commands import SimState
from .modem_session import ModemSession

log = logging.getLogger(__name__)

FAULT_SIM_PIN = "0000"  # what a pin_after_reset SIM wants when its profile has no PIN
SEARCHING = 2  # +CREG <stat> of a modem the network dropped: not registered, searching
_CFUN_SET = re.compile(r"\s*AT\s*\+CFUN\s*=", re.IGNORECASE)


_CLEARED_BY_CFUN = frozenset({FaultKind.HANG_UNTIL_CFUN, FaultKind.PIN_AFTER_RESET})
_DEAF = frozenset({FaultKind.HANG_UNTIL_USB_RESET, FaultKind.NEVER_RECOVER})  # even to CFUN
_HANGS = _CLEARED_BY_CFUN | _DEAF


class ModemFaults:
    """The faults one emulated modem has now, and the steps that clear them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.active: set[FaultKind] = set()
        self._session: ModemSession | None = None
        self._registration_before: int | None = None  # +CREG stat to restore on clear

    @property
    def hung(self) -> bool:
        """The firmware is frozen: nothing is written, lines are dropped (``admits``)."""
        return bool(self.active & _HANGS)

    def attach(self, session: ModemSession) -> None:
        """Act on ``session`` (a new one after each USB reset)."""
        self._session = session
        session.admits = self.admits
        session.radio.on_cfun.append(self._cfun)

    def admits(self, line: str) -> bool:
        """Does the frozen firmware still read this command line? Only AT+CFUN, and only for
        the faults a CFUN clears."""
        if not self.hung:
            return True
        return not self.active & _DEAF and _CFUN_SET.match(line) is not None

    def inject(self, kind: FaultKind) -> None:
        """Start ``kind`` (or, for ``clear``, end every fault)."""
        session = self._require_session()
        log.info("%s: fault %s", self.name, kind.value)
        if kind is FaultKind.CLEAR:
            self.active.clear()
            if self._registration_before is not None:
                session.radio.set_network(self._registration_before)
                self._registration_before = None
            return
        self.active.add(kind)
        if kind is FaultKind.LOSE_REGISTRATION and self._registration_before is None:
            self._registration_before = session.commands.registration
            session.radio.set_network(SEARCHING)

    def usb_reset(self, session: ModemSession) -> None:
        """The modem was reset over USB and boots with ``session``: ends hang_until_usb_reset."""
        self.active.discard(FaultKind.HANG_UNTIL_USB_RESET)
        self.attach(session)
        if self._registration_before is not None:  # the network still ignores this SIM
            session.radio.set_network(SEARCHING)

    def _cfun(self, _fun: int, _reset: bool) -> None:
        if not self.active & _CLEARED_BY_CFUN:
            return
        session = self._require_session()
        if FaultKind.PIN_AFTER_RESET in self.active:
            commands = session.commands
            commands.sim_pin = commands.sim_pin or FAULT_SIM_PIN
            commands.set_sim(SimState.PIN)
        log.info(
            "%s: AT+CFUN ends %s", self.name, ", ".join(sorted(self.active & _CLEARED_BY_CFUN))
        )
        self.active -= _CLEARED_BY_CFUN

    def _require_session(self) -> ModemSession:
        if self._session is None:
            raise RuntimeError(f"{self.name}: faults not attached to a session")
        return self._session
