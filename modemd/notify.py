"""systemd's sd_notify protocol (READY, WATCHDOG, STOPPING): one datagram to $NOTIFY_SOCKET.

No library: the protocol is a line of text on a Unix datagram socket (sd_notify(3)). Outside
systemd (no $NOTIFY_SOCKET) every call does nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)

WATCHDOG_SHARE = 0.5  # ping at half of WatchdogSec=, as sd_watchdog_enabled(3) advises


def notify(state: str) -> None:
    """Send ``state`` (e.g. "READY=1") to the service manager, if there is one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(
            socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        ) as sock:
            sock.sendto(state.encode(), address)
    except OSError as exc:  # never block the loop on it (a full queue answers EAGAIN)
        log.warning("sd_notify %s failed: %s", state, exc)


def watchdog_interval_s() -> float | None:
    """How often to send WATCHDOG=1, None when systemd does not watch this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 * WATCHDOG_SHARE


async def feed_watchdog(interval_s: float) -> None:
    """Ping the watchdog from the event loop: a blocked loop stops the pings, and systemd
    restarts the daemon."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)
