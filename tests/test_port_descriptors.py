"""A bank of a few hundred modems on one host: every open port holds several descriptors (the
tty and pyserial's pipes), so ports past ~200 get descriptors above 1023, where ``select()``
stops working. The driver must read and write such a port like any other (real pty, emulator)."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem_bank import EmulatedBank

FD_SETSIZE = 1024  # select() refuses descriptors from this one on
FAST = Timeouts(command_s=2.0, prompt_s=2.0, cmgs_s=2.0, registration_s=2.0)


@contextmanager
def descriptors_above_select_limit() -> Iterator[None]:
    """Hold every descriptor below FD_SETSIZE, so the next ones opened are above it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_SETSIZE + 256
    assert hard == resource.RLIM_INFINITY or hard >= wanted, f"RLIMIT_NOFILE hard limit {hard}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    held: list[int] = []
    try:
        while not held or held[-1] < FD_SETSIZE - 1:
            held.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _descriptors_of(path: str) -> list[int]:
    found = []
    for entry in Path("/proc/self/fd").iterdir():
        try:
            if os.readlink(entry) == path:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_a_port_above_the_select_limit_opens_and_sends() -> None:
    with descriptors_above_select_limit():
        bank = EmulatedBank.create(1, seed=3, profile_overrides={"send_latency_s": (0.0, 0.0)})
        await bank.start()
        modem = bank.modems[0]
        driver = SerialAtDriver(modem.port, "4711", timeouts=FAST)
        try:
            info = await driver.open()
            assert info.device_id == modem.profile.imei
            assert min(_descriptors_of(modem.port)) >= FD_SETSIZE
            parts = await driver.send_sms("+393331234567", "above the select limit")
            assert len(parts) == 1
            assert [(m.to, m.text) for m in modem.accepted] == [
                ("+393331234567", "above the select limit")
            ]
        finally:
            await driver.close()
            await bank.close()
