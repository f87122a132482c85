"""The SIM behind a modem: wait while it is busy after boot, enter its PIN when it asks, once.

A PIN that worked is kept for the next reset (a rebooted module asks again); one the SIM
refused is forgotten and never retried: three wrong tries lock the SIM behind its PUK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from modemd.at import commands as at
from modemd.at.transaction import Command
from modemd.errors import ModemCommandError

SimPin = str | Callable[[str], str | None]  # a fixed SIM PIN, or a lookup by the SIM's ICCID
SIM_BUSY_RETRY_S = 2.0  # +CME ERROR: 14 (SIM busy) right after boot: ask again after this
SIM_BUSY = 14  # +CME ERROR: 14, SIM busy


class Commands(Protocol):
    async def command(self, command: Command, timeout: float | None = None) -> list[str]: ...


class SimUnlock:
    """The PIN of one modem's SIM (or the lookup that finds it by ICCID)."""

    def __init__(self, sim_pin: SimPin | None) -> None:
        self.sim_pin = sim_pin

    async def unlock(self, link: Commands, iccid: str) -> None:
        """Until AT+CPIN? says READY: enter the PIN when asked (once per call); anything else
        the SIM wants (a PUK, a PIN we lack) raises ``ModemCommandError``."""
        tried = False
        while True:
            try:
                state = at.parse_sim_state(await link.command(at.SIM_STATE))
            except ModemCommandError as exc:
                if exc.code == SIM_BUSY:  # right after boot
                    await asyncio.sleep(SIM_BUSY_RETRY_S)
                    continue
                raise
            if state is at.SimState.READY:
                return
            pin = self.sim_pin(iccid) if callable(self.sim_pin) else self.sim_pin
            if state is at.SimState.SIM_PIN and pin and not tried:
                tried = True
                try:
                    await link.command(Command(f'AT+CPIN="{pin}"'))
                except ModemCommandError:
                    self.sim_pin = None  # never retried
                    raise
                continue
            raise ModemCommandError(at.SIM_STATE.text, f"SIM not ready: {state.value}")
