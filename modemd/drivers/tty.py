"""A serial port as modemd holds it: pyserial sets the line up (raw mode, speed, DTR/RTS) and
modemd reads and writes the non-blocking descriptor itself, so the port costs one descriptor.
``PortIo`` is that descriptor on the loop: watched with ``loop.add_reader`` (no thread, no
polling), each chunk read handed on, written at once.

pyserial opens two pipes per port (four descriptors) only to cancel a blocking ``read`` or
``write`` from another thread, which modemd never does: with them a port held 5 descriptors, and
a bank of 256 modems 1,280 of the unit's 4,096 (README "256 modems"). Its ``write`` also waits
with ``select()``, which refuses descriptors above 1023; ``write_rest`` waits with ``poll()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import termios
import time
from collections.abc import Callable
from typing import Any

import serial

from modemd.errors import PortClosedError

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096  # no TIOCINQ (in_waiting): umockdev's ttys do not support it
BAUDRATE = 115200  # USB modems ignore it; RS-232 modems (SIM800 boards) default to it or autobaud
WRITE_TIMEOUT_S = 2.0  # a full output buffer that does not drain: the port is stuck

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
    try:  # not ``contextlib.suppress``: three calls a write on the path of every command
        written = os.write(fd, data)
    except BlockingIOError:
        written = 0
    if written == len(data):
        return
    data = data[written:]
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


class PortIo:
    """One port's descriptor on the loop: ``on_data`` gets each chunk read, ``on_lost`` the
    reason once when the port dies under us (not on ``close``)."""

    def __init__(
        self, path: str, on_data: Callable[[bytes], None], on_lost: Callable[[str], None]
    ) -> None:
        self.path = path
        self._on_data = on_data
        self._on_lost = on_lost
        self._serial: Tty | None = None
        self._fd = -1  # the open port's descriptor (pyserial's ``fileno()`` is a call each time)
        self.closed = False

    def open(self) -> None:
        """Open the port, drop what was queued while nobody had it open, start reading."""
        try:
            self._serial = Tty(self.path, BAUDRATE, timeout=0, write_timeout=WRITE_TIMEOUT_S)
        except (serial.SerialException, OSError) as exc:
            raise PortClosedError(f"{self.path}: cannot open: {exc}") from exc
        self.closed = False
        self._fd = self._serial.fileno()
        # Bytes queued while nobody had the port open belong to a previous session.
        with contextlib.suppress(serial.SerialException, OSError, termios.error):
            self._serial.reset_input_buffer()
        asyncio.get_running_loop().add_reader(self._fd, self._on_readable)

    def close(self) -> bool:
        """Stop reading and close the port; False when it was not open (idempotent)."""
        if self._serial is None:
            return False
        ser, self._serial = self._serial, None
        self.closed = True
        with contextlib.suppress(ValueError, OSError):  # fd already invalid: the port died
            asyncio.get_running_loop().remove_reader(self._fd)
        with contextlib.suppress(serial.SerialException, OSError):
            ser.close()
        return True

    def write(self, data: bytes) -> None:
        """Write ``data`` now; ``PortClosedError`` when the port is closed or the write fails.
        The port is non-blocking (pyserial opens it O_NONBLOCK): a plain write takes the few
        bytes of a command at once; a full buffer is waited for (``write_rest``)."""
        if self._serial is None or self.closed:
            raise PortClosedError(f"{self.path}: port is closed")
        try:
            write_rest(self._fd, data, WRITE_TIMEOUT_S)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortClosedError(f"{self.path}: write failed: {exc}") from exc

    def _on_readable(self) -> None:
        if self._serial is None:
            return
        try:
            # A plain read of the non-blocking tty: pyserial's read select()s first, and
            # select() refuses descriptors above 1023, which a large bank (or many API
            # connections) reaches; the port has no abort pipe to select on either.
            data = os.read(self._fd, READ_CHUNK_BYTES)
        except BlockingIOError:
            return  # woken with nothing to read
        except (OSError, TypeError, ValueError) as exc:
            self._lost(str(exc))
            return
        if not data:
            self._lost("end of file")
            return
        self._on_data(data)

    def _lost(self, why: str) -> None:
        if self.closed:
            return
        log.warning("%s: port lost (%s)", self.path, why)
        self._on_lost(why)
