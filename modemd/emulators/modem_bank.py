"""A bank of emulated modems with distinct identities, and ``modemd emulate``'s loop."""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from pathlib import Path
from typing import Any

from .modem import EmulatedModem
from .profile import SERIAL_SPACE, ModemProfile, SendRecorder, emulated_identity

RNG_SEED_BITS = 64


class EmulatedBank:
    """N emulated modems with distinct identities."""

    def __init__(self, modems: list[EmulatedModem]) -> None:
        self.modems = modems

    @classmethod
    def create(
        cls,
        count: int,
        *,
        pin_label: str | None = None,
        record: str | Path | None = None,
        profile_overrides: dict[str, Any] | None = None,
        seed: int | None = None,
        storage_dir: str | Path | None = None,
        identities_of: str | None = None,
    ) -> EmulatedBank:
        """Build ``count`` modems; ``seed`` fixes their identities and all their randomness.
        ``storage_dir``: each modem's SIM memory lives in ``<imei>.sim.json`` there.
        ``identities_of`` (a host id) places their identities by that name instead, so that
        the banks of two hosts do not share an IMEI."""
        if not 1 <= count <= SERIAL_SPACE:
            raise ValueError(f"count must be in 1..{SERIAL_SPACE}")
        bank_rng = random.Random(seed)
        first_serial = 0 if seed is None else bank_rng.randrange(SERIAL_SPACE - count + 1)
        if identities_of is not None:
            digest = hashlib.sha256(identities_of.encode()).digest()
            first_serial = int.from_bytes(digest[:8], "big") % (SERIAL_SPACE - count + 1)
        recorder = SendRecorder(record) if record is not None else None
        modems = []
        for index in range(count):
            identity = emulated_identity(first_serial + index)
            profile = ModemProfile(
                imei=identity.imei,
                imsi=identity.imsi,
                iccid=identity.iccid,
                **(profile_overrides or {}),
            )
            rng = random.Random(bank_rng.getrandbits(RNG_SEED_BITS))
            modems.append(
                EmulatedModem(
                    profile,
                    name=f"emu{index}",
                    recorder=recorder,
                    rng=rng,
                    pin=pin_label,
                    storage=Path(storage_dir) / f"{identity.imei}.sim.json"
                    if storage_dir is not None
                    else None,
                )
            )
        return cls(modems)

    async def start(self) -> None:
        """Start every modem; on failure, close them all."""
        try:
            for modem in self.modems:
                await modem.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close every modem and wait for their tasks."""
        await asyncio.gather(*(modem.close() for modem in self.modems))

    async def __aenter__(self) -> EmulatedBank:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


async def serve(
    count: int,
    record: str | None,
    *,
    seed: int | None = None,
    pin_label: str | None = None,
    **knobs: Any,
) -> None:
    """Run a bank for the CLI: print "name port imei" per modem, then serve until cancelled."""
    bank = EmulatedBank.create(
        count, pin_label=pin_label, record=record, profile_overrides=knobs, seed=seed
    )
    async with bank:
        for modem in bank.modems:
            sys.stdout.write(f"{modem.name} {modem.port} {modem.profile.imei}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()
