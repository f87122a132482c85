"""Emulated GSM modems, each answering AT commands on its own pty, fake only at the radio.

A client opens ``EmulatedModem.port`` (the pty's slave side) with pyserial or any serial tool.
The master side is served from the asyncio loop (``loop.add_reader``/``add_writer``, no threads,
no polling); the emulator keeps a slave fd of its own open so the client may close and reopen
the port. Bytes written while no client has the port open wait in the pty, as they would not
on a real UART: a client should flush its input after opening.

Benchmarks observe the line from outside: ``EmulatedModem.on_input`` / ``on_output`` (default
None) are called with every chunk read from / written to the pty as it happens, on the loop.
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import logging
import os
import random
import time
import tty
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .faults import FaultKind, ModemFaults
from .handsets import Handsets
from .modem_at import LineState
from .modem_commands import SimState
from .modem_session import ModemSession
from .modem_submit import Submission
from .profile import (
    CREG_STATES,
    RSSI_MAX,
    RSSI_UNKNOWN,
    AcceptedMessage,
    MessageFormat,
    ModemProfile,
    SendRecorder,
)
from .sms_centre import SmsCentre

__all__ = [
    "AcceptedMessage",
    "EmulatedModem",
    "LineState",
    "MessageFormat",
    "ModemProfile",
    "PortState",
    "SendRecorder",
]

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096
MAX_OUTPUT_BACKLOG_BYTES = 64 * 1024  # unread output beyond this is lost, as on a real UART
TP_MR_MODULUS = 256  # TP-MR is one octet
TP_STATUS_NO_INTERWORKING = 0x45  # permanent error: what a failed delivery reports
RNG_SEED_BITS = 64
TIOCGPTPEER = 0x5441  # <asm-generic/ioctls.h>: open the slave of a pty master (Linux >= 4.13)


class PortState(enum.Enum):
    """What the emulated modem's serial port is doing."""

    NEW = "new"  # not started: no pty yet
    OPEN = "open"  # answering on the pty
    HUNG = "hung"  # firmware frozen: input is read and dropped, nothing is written
    UNPLUGGED = "unplugged"  # pty closed: the client's port is dead


class EmulatedModem:
    """One emulated modem: an AT session on a pty, a radio with latency, errors and reports."""

    def __init__(
        self,
        profile: ModemProfile,
        *,
        name: str,
        recorder: SendRecorder | None = None,
        rng: random.Random | None = None,
        pin: str | None = None,
        storage: Path | None = None,
    ) -> None:
        self.profile = profile
        self.name = name
        self.pin = pin  # pool label, as a udev rule would give a real modem
        self.accepted: list[AcceptedMessage] = []
        self._recorder = recorder
        self._rng = rng if rng is not None else random.Random()
        self._session = ModemSession(profile, self._rng, name=name, storage_path=storage)
        self.handsets: Handsets | None = None  # emulated recipients that answer (demos)
        self.network = SmsCentre(
            self._session,
            self._rng,
            lambda: self._pump(None),
            ack_timeout_s=profile.cnma_timeout_s,
        )
        self.faults = ModemFaults(name)
        self.faults.attach(self._session)
        self._own_pty = False  # made by start(): a USB reset can make a new one
        self._state = PortState.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._port: str | None = None
        self._out = bytearray()
        self._writer_armed = False
        self._next_mr = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # The network's delays (a send's answer, its report): timer callbacks, not a task and
        # its sleep each, which answered a loop turn later (bench.emulator_alone, 64 x 0.1 s,
        # load 10: ratio 0.79-0.85 -> 0.86-0.93 against a trivial client, 6 pairs).
        self._timers: set[asyncio.TimerHandle] = set()
        self.on_input: Callable[[bytes], None] | None = None  # each chunk the client wrote
        self.on_output: Callable[[bytes], None] | None = None  # each chunk written to the pty
        self.on_replug: Callable[[EmulatedModem], None] | None = None  # new port after USB reset

    @property
    def port(self) -> str:
        """Path of the pty's slave side, the modem's "serial port" (valid after start)."""
        if self._port is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._port

    @property
    def state(self) -> PortState:
        """What the port is doing."""
        return self._state

    @property
    def line_state(self) -> LineState:
        """What the AT session does with the next byte."""
        return self._session.state

    async def start(self) -> None:
        """Open the pty and start answering on it."""
        master, slave = os.openpty()
        self._serve(master, slave, os.ttyname(slave))
        self._own_pty = True

    async def start_on(self, master: int, port: str) -> None:
        """Answer on the pty whose master side is ``master`` (taken over: closed on unplug).

        For a pty made by someone else, e.g. the one behind a umockdev device node; ``port``
        is the name clients open it by. A slave fd of our own keeps the pty alive while no
        client has it open."""
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
        self._serve(master, slave, port)

    def _serve(self, master: int, slave: int, port: str) -> None:
        if self._state is not PortState.NEW:
            os.close(master)
            os.close(slave)
            raise RuntimeError(f"{self.name} was already started")
        self._loop = asyncio.get_running_loop()
        self._master, self._slave = master, slave
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._port = port
        self._loop.add_reader(self._master, self._on_readable)
        self._set_state(PortState.OPEN)

    def hang(self) -> None:
        """Stop answering anything (input is read and dropped) until resume()."""
        if self._state is PortState.OPEN:
            self._drop_output()
            self._set_state(PortState.HUNG)

    def resume(self) -> None:
        """Answer again after hang(); what arrived meanwhile is lost."""
        if self._state is PortState.HUNG:
            self._set_state(PortState.OPEN)

    def inject(self, kind: FaultKind | str) -> None:
        """Give the modem a fault (``modemd.emulators.faults``), or ``clear`` them all."""
        self.faults.inject(FaultKind(kind))
        if self.faults.hung:
            self._drop_output()
        self._pump(None)

    async def usb_reset(self) -> None:
        """What USBDEVFS_RESET does to a modem: its port goes away, it boots again, and a new
        port (another pty) appears with the same IMEI; ``on_replug`` is told."""
        if not self._own_pty:
            raise RuntimeError(f"{self.name}: only a modem on its own pty can be reset")
        self.unplug()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._session = ModemSession(self.profile, self._rng, name=self.name)
        self.faults.usb_reset(self._session)
        self._set_state(PortState.NEW)
        await self.start()
        log.info("%s: back after a USB reset on %s", self.name, self.port)
        if self.on_replug is not None:
            self.on_replug(self)

    def unplug(self) -> None:
        """Close the pty: the client's port dies; in-flight sends and reports are lost."""
        if self._state is PortState.UNPLUGGED:
            return
        if self._loop is not None and self._master is not None:
            self._drop_output()
            self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        for task in list(self._tasks):
            task.cancel()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._set_state(PortState.UNPLUGGED)

    async def close(self) -> None:
        """Unplug and wait for every task of this modem to end."""
        self.unplug()
        self.network.close()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- runtime knobs: the radio and the SIM change while a client is connected ---------

    def set_registration(self, stat: int) -> None:
        """+CREG <stat> from now on (0 idle, 1 home, 2 searching, 3 denied, 5 roaming)."""
        if stat not in CREG_STATES:
            raise ValueError("registration must be 0..5")
        log.info("%s: +CREG stat %d", self.name, stat)
        self._session.radio.set_network(stat)
        self._pump(None)

    def set_signal(self, rssi: int) -> None:
        """+CSQ <rssi> from now on."""
        if not (0 <= rssi <= RSSI_MAX or rssi == RSSI_UNKNOWN):
            raise ValueError("rssi must be 0..31 or 99")
        self._session.commands.rssi = rssi

    def remove_sim(self) -> None:
        """Pull the SIM: SIM commands answer +CME ERROR: 10, SMS commands +CMS ERROR: 310."""
        self._session.commands.set_sim(SimState.ABSENT)

    def insert_sim(self) -> None:
        """Put the SIM back: locked again when the profile has a sim_pin."""
        self._session.commands.set_sim(SimState.PIN if self.profile.sim_pin else SimState.READY)

    def block_sim(self) -> None:
        """The SIM asks for its PUK (as after 3 wrong PINs): +CME ERROR: 12 / +CMS ERROR: 316."""
        self._session.commands.set_sim(SimState.PUK)

    def _set_state(self, new: PortState) -> None:
        log.info("%s: port %s -> %s", self.name, self._state.value, new.value)
        self._state = new

    # -- bytes ---------------------------------------------------------------------------

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, READ_CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError:
            log.exception("%s: pty read failed; unplugging", self.name)
            self.unplug()
            return
        if self._state is PortState.OPEN and data:
            if self.on_input is not None:
                self.on_input(data)
            self._pump(self._session.feed(data))

    def _pump(self, submission: Submission | None) -> None:
        """Write what the session produced; hand a new submission to the radio."""
        self._emit(self._session.data_to_send())
        if submission is not None:
            delay = self._rng.uniform(*self.profile.send_latency_s)
            self._later(delay, self._network_answers, submission)

    def _emit(self, data: bytes) -> None:
        if not data or self._state is not PortState.OPEN or self.faults.hung:
            return
        room = MAX_OUTPUT_BACKLOG_BYTES - len(self._out)
        if len(data) > room:
            log.warning("%s: client not reading, %d bytes lost", self.name, len(data) - room)
        self._out += data[:room]
        if self.on_output is not None:
            self.on_output(data[:room])
        self._on_writable()

    def _on_writable(self) -> None:
        assert self._loop is not None and self._master is not None
        try:
            written = os.write(self._master, self._out)
        except BlockingIOError:
            written = 0
        del self._out[:written]
        if self._out and not self._writer_armed:
            self._loop.add_writer(self._master, self._on_writable)
        elif not self._out and self._writer_armed:
            self._loop.remove_writer(self._master)
        self._writer_armed = bool(self._out)

    def _drop_output(self) -> None:
        self._out.clear()
        if self._writer_armed and self._loop is not None and self._master is not None:
            self._loop.remove_writer(self._master)
        self._writer_armed = False

    # -- radio ---------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro, name=f"emulator {self.name} {what}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s: %s failed", self.name, task.get_name(), exc_info=error)

    def _later(self, delay_s: float, callback: Callable[..., None], *args: Any) -> None:
        """``callback(*args)`` in ``delay_s`` unless the modem is unplugged first."""
        assert self._loop is not None

        def run() -> None:
            self._timers.discard(handle)
            callback(*args)

        handle = self._loop.call_later(delay_s, run)
        self._timers.add(handle)

    def _network_answers(self, submission: Submission) -> None:
        """The network has taken its time: it refuses or accepts the submission."""
        code = self.profile.cms_error
        if code is not None and self._rng.random() < self.profile.cms_error_rate:
            self._pump(self._session.reject_submission(code))
            return
        message = self._accept(submission)
        self._pump(self._session.accept_submission(message.mr))
        if submission.report_requested:
            self._later(self.profile.report_delay_s, self._report, message)
        if self.handsets is not None and message.part == message.total:
            reply = self.handsets.reply(message.to, time.monotonic())
            if reply is not None:
                self._spawn(self._answer(message.to, *reply), f"reply from {message.to}")

    async def _answer(self, number: str, text: str, delay_s: float) -> None:
        """The handset of ``number`` answers (``--simulate-replies``)."""
        await asyncio.sleep(delay_s)
        self.network.send(number, text)

    def _accept(self, submission: Submission) -> AcceptedMessage:
        """Give the next TP-MR and record the message as gone out."""
        mr, self._next_mr = self._next_mr, (self._next_mr + 1) % TP_MR_MODULUS
        message = AcceptedMessage(
            modem=self.name,
            imei=self.profile.imei,
            mr=mr,
            to=submission.to,
            text=submission.text,
            part=submission.part,
            total=submission.total,
            mode=submission.mode,
            at=time.time(),
        )
        self.accepted.append(message)
        if self._recorder is not None:
            self._recorder.record(message)
        return message

    def _report(self, message: AcceptedMessage) -> None:
        """The SMSC's status report reaches the modem (the profile's delay after the send)."""
        failure_rate = self.profile.delivery_failure_rate
        failed = failure_rate > 0 and self._rng.random() < failure_rate
        self.deliver_report(message, TP_STATUS_NO_INTERWORKING if failed else None)

    def deliver_report(self, message: AcceptedMessage, tp_status: int | None = None) -> None:
        """The status report of ``message`` (one of ``accepted``) reaches the modem now, with
        ``tp_status`` (None: the profile's), routed as AT+CNMI says."""
        self.network.report(  # kept by the network while the memory is full
            mr=message.mr,
            recipient=message.to,
            status=self.profile.tp_status if tp_status is None else tp_status,
            scts=datetime.fromtimestamp(message.at, UTC),
            discharge=datetime.now(UTC),
        )
        self.network.arm()  # a +CDS in phase 2+ waits for AT+CNMA
        self._pump(None)
