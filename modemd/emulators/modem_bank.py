"""A bank of emulated modems with distinct identities, and ``modemd emulate``'s loop."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys
from pathlib import Path
from typing import Any

from .handsets import Handsets
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
        if storage_dir is not None:
            Path(storage_dir).mkdir(exist_ok=True)
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

    def answer_with(self, text: str, **timing: Any) -> None:
        """Every number the modems text answers with ``text`` (``Handsets``: delay, cooldown);
        one handset per number, whichever modem texted it."""
        handsets = Handsets(text, random.Random(), **timing)
        for modem in self.modems:
            modem.handsets = handsets

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
    """Run a bank for the CLI: print "name port imei" per modem, then serve until cancelled.
    Lines on stdin are the emulated network's commands (``network_command``)."""
    bank = EmulatedBank.create(
        count, pin_label=pin_label, record=record, profile_overrides=knobs, seed=seed
    )
    async with bank:
        for modem in bank.modems:
            sys.stdout.write(f"{modem.name} {modem.port} {modem.profile.imei}\n")
        sys.stdout.flush()
        commands = _Commands(bank)
        try:
            await asyncio.Event().wait()
        finally:
            commands.close()


def network_command(bank: EmulatedBank, line: str) -> str:
    """``sms MODEM SENDER TEXT...``: the network delivers an SMS from SENDER to MODEM (its name
    or IMEI), as it would from a phone. The answer is one line for the terminal."""
    words = line.split(maxsplit=3)
    if not words:
        return ""
    if words[0] != "sms" or len(words) < 4:
        return "usage: sms MODEM SENDER TEXT (MODEM: emu0 or its IMEI)"
    _, name, sender, text = words
    for modem in bank.modems:
        if name in (modem.name, modem.profile.imei):
            parts = modem.network.send(sender, text)
            return f"sms to {modem.name}: {len(parts)} part(s) from {sender}"
    return f"no emulated modem {name}"


class _Commands:
    """Reads ``network_command`` lines from stdin (a pipe or a terminal; a regular file or
    /dev/null cannot be watched: then there are no commands) and answers on stdout."""

    def __init__(self, bank: EmulatedBank) -> None:
        self.bank = bank
        self.pending = b""
        self.loop = asyncio.get_running_loop()
        self.fd = -1
        try:  # no descriptor at all (stdin replaced in-process) is no commands too
            fd = sys.stdin.fileno()
            self.loop.add_reader(fd, self._readable)
        except (OSError, ValueError):
            return
        self.fd = fd

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        if not data:  # end of input: the modems go on, without commands
            self.close()
            return
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            if answer := network_command(self.bank, line.decode(errors="replace")):
                sys.stdout.write(answer + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            self.fd = -1
