"""This host among the hosts sharing one PostgreSQL database: it beats (with the devices it
holds) a few times per lease, and takes over after any host that stopped beating."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from modemd.runtime.bank import Bank, Offer
from modemd.store import hosts as host_rows
from modemd.store.db import Store

log = logging.getLogger(__name__)

BEATS_PER_LEASE = 3  # a host misses two beats before the others call it dead
MACHINE_ID = Path("/etc/machine-id")  # systemd's: stable per installation, unique per machine


def default_host_id() -> str:
    """The machine id (two hosts on one machine must each be given their own)."""
    try:
        return MACHINE_ID.read_text().strip() or "localhost"
    except OSError:
        return "localhost"


class HostKeeper:
    """Owns one task (``run``): heartbeat and takeover of dead hosts."""

    def __init__(
        self,
        store: Store,
        bank: Bank,
        host_id: str,
        *,
        lease_s: float = host_rows.DEFAULT_LEASE_S,
        on_takeover: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.bank = bank
        self.host_id = host_id
        self.lease_s = lease_s
        self.on_takeover = on_takeover

    async def beat(self) -> None:
        """Alive, with these devices; learn the other live hosts' devices (API answers)."""
        await self.store.write(host_rows.beat, self.host_id, self.bank.device_ids())
        remote: dict[str, list[Offer]] = {}
        for row in await self.store.read(host_rows.remote_devices, self.host_id, self.lease_s):
            remote.setdefault(row["pin"], []).append(
                Offer(row["device_id"], row["pin"], row["kind"])
            )
        self.bank.remote = remote

    async def run(self) -> None:
        """Beat and watch until cancelled."""
        while True:
            await self.beat()
            dead = await self.store.write(host_rows.take_over_dead, self.host_id, self.lease_s)
            for host in dead:
                log.warning(
                    "host %s silent for %.0f s: its sending jobs are unknown, its devices gone",
                    host,
                    self.lease_s,
                )
            if dead and self.on_takeover is not None:
                self.on_takeover()
            await asyncio.sleep(self.lease_s / BEATS_PER_LEASE)
