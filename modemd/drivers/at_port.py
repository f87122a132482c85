"""A serial port that speaks AT: non-blocking pyserial on the asyncio loop, one command in flight.

The port's fd is watched with ``loop.add_reader`` (no thread, no polling); bytes go through the
sans-IO framer (``modemd.at.parser``) and each line to the command in flight
(``modemd.at.transaction``). Subclasses (the modem driver) get URCs and the port's death through
two hooks, ``_handle_urc`` and ``_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios

import serial

from modemd.at.parser import AtParser, Line, Prompt, Urc
from modemd.at.transaction import Command, Disposition, Transaction
from modemd.errors import DeviceTimeoutError, ModemCommandError, PortClosedError

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096  # no TIOCINQ (in_waiting): umockdev's ttys do not support it
BAUDRATE = 115200  # USB modems ignore it; RS-232 modems (SIM800 boards) default to it or autobaud
FINAL_GRACE_S = 0.5  # wait for the OK some modems omit (Wavecom "+CPIN: READY" without OK)


class AtPort:
    """Port I/O and command transactions; what the commands mean is the subclass's."""

    def __init__(self, port: str, command_timeout_s: float) -> None:
        self.port = port
        self.command_timeout_s = command_timeout_s
        self._serial: serial.Serial | None = None
        self._parser = AtParser()
        self._lock = asyncio.Lock()  # one command in flight
        self._tx: Transaction | None = None
        self._tx_done: asyncio.Event = asyncio.Event()
        self._prompt: asyncio.Event = asyncio.Event()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def open_port(self) -> None:
        """Open the port and start reading, without a word to the modem (``open`` does both)."""
        try:
            self._serial = serial.Serial(self.port, BAUDRATE, timeout=0, write_timeout=2)
        except (serial.SerialException, OSError) as exc:
            raise PortClosedError(f"{self.port}: cannot open: {exc}") from exc
        self._closed = False
        self._parser.reset()
        # Bytes queued while nobody had the port open belong to a previous session.
        with contextlib.suppress(serial.SerialException, OSError, termios.error):
            self._serial.reset_input_buffer()
        asyncio.get_running_loop().add_reader(self._serial.fileno(), self._on_readable)

    def _close_port(self) -> None:
        if self._serial is None:
            return
        ser, self._serial = self._serial, None
        self._closed = True
        with contextlib.suppress(ValueError, OSError):  # fd already invalid: the port died
            asyncio.get_running_loop().remove_reader(ser.fileno())
        with contextlib.suppress(serial.SerialException, OSError):
            ser.close()
        self._tx_done.set()
        self._prompt.set()

    def _on_readable(self) -> None:
        ser = self._serial
        if ser is None:
            return
        try:
            data = ser.read(READ_CHUNK_BYTES)  # non-blocking: what is there, up to this
        except (serial.SerialException, OSError, TypeError) as exc:
            self._port_lost(str(exc))
            return
        if not data:
            self._port_lost("end of file")
            return
        for event in self._parser.feed(data):
            self._dispatch(event)

    def _port_lost(self, why: str) -> None:
        if self._closed:
            return
        log.warning("%s: port lost (%s)", self.port, why)
        self._close_port()
        self._lost()

    def _lost(self) -> None:
        """Hook: the port died under us (after it is closed)."""

    def _handle_urc(self, urc: Urc) -> None:
        """Hook: an unsolicited result code arrived."""
        log.debug("%s: URC %r", self.port, urc.text)

    def _write(self, data: bytes) -> None:
        ser = self._serial
        if ser is None or self._closed:
            raise PortClosedError(f"{self.port}: port is closed")
        try:
            # The port is non-blocking (pyserial opens it O_NONBLOCK): a plain write takes the
            # few bytes of a command at once. pyserial's own write select()s after every call,
            # which costs the loop more than the write itself; it is kept for a full buffer.
            written = os.write(ser.fileno(), data)
            if written < len(data):
                ser.write(data[written:])
        except BlockingIOError:
            ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise PortClosedError(f"{self.port}: write failed: {exc}") from exc

    # -- framing -> transactions ----------------------------------------------------------

    def _dispatch(self, event: Line | Prompt | Urc) -> None:
        if isinstance(event, Prompt):
            self._prompt.set()
        elif isinstance(event, Urc):
            self._handle_urc(event)
        elif self._tx is None:
            if event.text not in ("OK",):
                self._handle_urc(Urc(event.text))  # +CREG: 1 and other URCs of no fixed prefix
        else:
            disposition = self._tx.on_line(event.text)
            if disposition is Disposition.FINAL:
                self._tx_done.set()
            elif disposition is Disposition.UNSOLICITED:
                self._handle_urc(Urc(event.text))

    # -- commands ---------------------------------------------------------------------------

    async def _wait(self, event: asyncio.Event, timeout: float, what: str) -> None:
        try:
            # Not wait_for: on Python 3.11 it loses a cancellation that meets the event being
            # set (the worker then never stops); asyncio.timeout keeps it.
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError as exc:
            raise DeviceTimeoutError(f"{self.port}: no answer to {what} in {timeout} s") from exc
        if self._closed:
            raise PortClosedError(f"{self.port}: port closed during {what}")

    async def _run(self, command: Command, timeout: float) -> Transaction:
        """Write ``command``, collect its answer; the caller holds the lock."""
        tx = Transaction(command)
        self._tx = tx
        self._tx_done.clear()
        try:
            self._write(command.text.encode("ascii") + b"\r")
            if command.final_optional:
                await self._wait_final_optional(tx, timeout)
            else:
                await self._wait(self._tx_done, timeout, command.text)
        finally:
            self._tx = None
        return tx

    async def _wait_final_optional(self, tx: Transaction, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not tx.done:
            remaining = deadline - loop.time()
            if tx.prefixed_seen:
                remaining = min(remaining, FINAL_GRACE_S)
            try:
                await self._wait(self._tx_done, max(remaining, 0.0), tx.command.text)
            except DeviceTimeoutError:
                if tx.prefixed_seen:
                    return  # the answer came without a final result: accept it
                raise

    async def command(self, command: Command, timeout: float | None = None) -> list[str]:
        """Run one command; return its response lines or raise ``ModemCommandError``."""
        async with self._lock:
            tx = await self._run(command, timeout or self.command_timeout_s)
        if tx.final is not None and not tx.final.ok:
            raise ModemCommandError(command.text, tx.final.text, tx.final.code)
        return tx.responses
