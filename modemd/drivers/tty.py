"""A serial port as modemd holds it: pyserial sets the line up (raw mode, speed, DTR/RTS) and
modemd reads and writes the non-blocking descriptor itself, so the port costs one descriptor.

pyserial opens two pipes per port (four descriptors) only to cancel a blocking ``read`` or
``write`` from another thread, which modemd never does: with them a port held 5 descriptors, and
a bank of 256 modems 1,280 of the unit's 4,096 (README "256 modems"). Its ``write`` also waits
with ``select()``, which refuses descriptors above 1023; ``write_rest`` waits with ``poll()``.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from typing import Any

import serial

_ABORT_PIPES = (
    "pipe_abort_read_r",
    "pipe_abort_read_w",
    "pipe_abort_write_r",
    "pipe_abort_write_w",
)


class Tty(serial.Serial):
    """pyserial's port without its abort pipes: ``read``, ``write``, ``cancel_read`` and
    ``cancel_write`` must not be called (modemd uses the descriptor and ``write_rest``)."""

    def open(self) -> None:
        super().open()
        for name in _ABORT_PIPES:
            fd = getattr(self, name, None)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def close(self) -> None:
        port: Any = self  # the stubs leave pyserial's posix attributes untyped
        fd: int | None = port.fd
        if port.is_open and fd is not None:
            port.fd = None
            os.close(fd)
        port.is_open = False


def write_rest(fd: int, data: bytes, timeout_s: float) -> None:
    """Write all of ``data`` to the non-blocking ``fd``, waiting (``poll``) while its buffer is
    full; ``TimeoutError`` when it stays full ``timeout_s``. The first try comes before any
    set-up: a command or a PDU mostly goes out whole in it (and the PDU right after the submit
    log's line, ``store.submits``)."""
    with contextlib.suppress(BlockingIOError):
        data = data[os.write(fd, data) :]
        if not data:
            return
    deadline = time.monotonic() + timeout_s
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while data:
        with contextlib.suppress(BlockingIOError):
            data = data[os.write(fd, data) :]
        if not data:
            return
        left_s = deadline - time.monotonic()
        if left_s <= 0 or not poller.poll(left_s * 1000):
            raise TimeoutError(f"the port took no bytes for {timeout_s} s")
