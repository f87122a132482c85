"""The recovery steps of a modem that speak AT beyond ESC + AT and a reopen: the radio reset
(AT+CFUN=0 then AT+CFUN=1) and the module reset (AT+CFUN=1,1), each followed by a full
restart of the session (identity, the SIM and its PIN, SMSC, report routing, storage)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from modemd.at import commands as at
from modemd.at.transaction import Command

log = logging.getLogger(__name__)

# Quectel EC2x/EG9x AT manual, AT+CFUN: "maximum response time 15 s, determined by the network";
# SIMCom SIM7600 lists 9 s.
CFUN_TIMEOUT_S = 15.0
# After AT+CFUN=1,1 the module reboots: Quectel EC25 is back on USB in ~5-13 s ("RDY"). Its
# port usually disappears meanwhile (hot-plug follows it); if it stays, we wait before waking.
MODULE_BOOT_S = 10.0


class AtLink(Protocol):
    """What a reset needs of the driver (``SerialAtDriver``): its port, commands, a restart."""

    port: str

    async def command(self, command: Command, timeout: float | None = None) -> list[str]: ...

    async def restart(self) -> str: ...


async def reset_radio(driver: AtLink, timeout_s: float = CFUN_TIMEOUT_S) -> str:
    """Radio off, radio on, start over; the IMEI the modem then answers with."""
    await driver.command(at.RADIO_OFF, timeout=timeout_s)
    await driver.command(at.RADIO_ON, timeout=timeout_s)
    return await driver.restart()


async def reset_module(
    driver: AtLink, timeout_s: float = CFUN_TIMEOUT_S, boot_s: float = MODULE_BOOT_S
) -> str:
    """Reset the module (where AT+CFUN=1,1 is supported: else ``ModemCommandError``), wait for
    it to boot, start over; the IMEI it then answers with."""
    await driver.command(at.MODULE_RESET, timeout=timeout_s)
    log.info("%s: module resetting; waiting %.1f s for it to boot", driver.port, boot_s)
    await asyncio.sleep(boot_s)
    return await driver.restart()
