"""A bank of a few hundred modems on one host: every open port holds several descriptors (the
tty and pyserial's pipes), so ports past ~200 get descriptors above 1023, where ``select()``
stops working. The driver must read and write such a port like any other (real pty, emulator)."""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modemd.drivers.at_port import AtPort
from modemd.drivers.serial_at import SerialAtDriver, Timeouts
from modemd.emulators.modem_bank import EmulatedBank
from modemd.errors import PortClosedError

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


def _pipes() -> int:
    """Pipe ends this process holds (pyserial opened four per port)."""
    count = 0
    for entry in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(entry).startswith("pipe:")
        except OSError:
            continue
    return count


async def test_an_open_port_holds_one_descriptor() -> None:
    bank = EmulatedBank.create(1, seed=4, profile_overrides={"send_latency_s": (0.0, 0.0)})
    await bank.start()
    port = bank.modems[0].port
    driver = SerialAtDriver(port, "4711", timeouts=FAST)
    try:
        pipes, ttys = _pipes(), len(_descriptors_of(port))
        await driver.open()
        assert len(_descriptors_of(port)) == ttys + 1  # the tty, once
        assert _pipes() == pipes  # pyserial's four pipe ends are closed at open
        await driver.close()
        assert len(_descriptors_of(port)) == ttys
    finally:
        await driver.close()
        await bank.close()


async def test_a_full_port_buffer_is_waited_for_and_one_never_drained_fails() -> None:
    master, slave = os.openpty()
    port = AtPort(os.ttyname(slave), command_timeout_s=1.0)
    port.open_port()
    body = bytes(range(256)) * 1024  # 256 KiB: far more than a pty buffers
    received = bytearray()

    def drain() -> None:
        while len(received) < len(body):
            received.extend(os.read(master, 65536))

    try:
        reader = threading.Thread(target=drain, name="pty reader", daemon=True)
        reader.start()
        port.write(body)  # waits while the buffer is full, as the reader drains it
        reader.join(timeout=30)
        assert bytes(received) == body
        with pytest.raises(PortClosedError, match="write failed"):
            port.write(body)  # nobody reads: the buffer stays full past WRITE_TIMEOUT_S
    finally:
        port.close()
        os.close(master)
        os.close(slave)
