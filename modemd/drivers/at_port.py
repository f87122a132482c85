"""A serial port that speaks AT: non-blocking pyserial on the asyncio loop, one command in flight.

The port's descriptor is read and written by ``tty.PortIo``; bytes go through the sans-IO
framer (``modemd.at.parser``) and each line, and the ``> `` prompt, to the command in flight
(``modemd.at.transaction``). The modem driver holds one ``AtPort`` and learns of URCs and
of the port's death through two callbacks; it runs commands with ``command`` and ``exchange``
(a send, with the commands it takes along: ``port_sides``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from modemd.at.parser import AtParser, Line, Prompt, Urc
from modemd.at.transaction import Command, Disposition, Phase, Transaction
from modemd.drivers.deadline import Deadline
from modemd.drivers.port_sides import Lead, Sides
from modemd.drivers.tty import PortIo
from modemd.errors import (
    DeviceTimeoutError,
    ModemCommandError,
    NoFinalResultError,
    NoPromptError,
    PortClosedError,
)

__all__ = ["AtPort", "Lead"]

log = logging.getLogger(__name__)

FINAL_GRACE_S = 0.5  # wait for the OK some modems omit (Wavecom "+CPIN: READY" without OK)


ESC = b"\x1b"  # aborts a half-typed SMS body (27.005 3.5.1)


class AtPort:
    """Port I/O and command transactions; what the commands mean is the driver's."""

    def __init__(
        self,
        port: str,
        command_timeout_s: float,
        *,
        on_urc: Callable[[Urc], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._io = PortIo(port, self._on_data, self._port_lost)
        self.command_timeout_s = command_timeout_s
        self._on_urc = on_urc
        self._on_lost = on_lost
        self._parser = AtParser()
        self._lock = asyncio.Lock()  # one command in flight
        self._tx: Transaction | None = None
        # The wait in progress (at most one: one command in flight): resolved by the final
        # result, by the port closing, or by ``_deadline``; a send's wait takes its deadline
        # after the prompt (``_after_prompt_s``) in the callback that writes the body.
        self._waiter: asyncio.Future[None] | None = None
        self._after_prompt_s: float | None = None
        self._waited_s = 0.0  # the deadline the wait in progress has now
        self._timed_out = False
        self._deadline = Deadline(self._expired)
        self._before_body: Callable[[], bool] | None = None  # of the exchange in flight
        self._refused = False  # that hook said the body must not go out: ESC was sent instead
        # Leads and trails (``port_sides``): the one in flight, those queued behind it; the
        # exchange whose line waits for them (its transaction, line, prompt timeout); the
        # trail of the exchange in flight, written at its final result.
        self._sides = Sides()
        self._then: tuple[Transaction, bytes, float] | None = None
        self._trail: Sequence[Lead] = ()

    @property
    def port(self) -> str:
        """The tty path (the next open may find another device behind it)."""
        return self._io.path

    @port.setter
    def port(self, path: str) -> None:
        self._io.path = path

    @property
    def closed(self) -> bool:
        return self._io.closed

    def open_port(self) -> None:
        """Open the port and start reading, without a word to the modem (``open`` does both)."""
        self._io.open()
        self._parser.reset()

    def close(self) -> None:
        """Stop reading and close the port; idempotent."""
        if not self._io.close():
            return
        self._deadline.cancel()
        self._sides.drop()  # a lead or trail in flight gets no answer now
        self._wake()  # the wait in progress learns the port closed

    def _on_data(self, data: bytes) -> None:
        for event in self._parser.feed(data):
            self._dispatch(event)

    def _port_lost(self, _why: str) -> None:
        self.close()
        if self._on_lost is not None:
            self._on_lost()

    async def reopen(self) -> None:
        """Close and open again, once the command in flight is over (or timed out)."""
        async with self._lock:
            self.close()
            self.open_port()

    def write(self, data: bytes) -> None:
        """Write raw bytes now (ESC), outside any transaction; ``PortClosedError`` when the
        port is closed or the write fails."""
        self._io.write(data)

    def _dispatch(self, event: Line | Prompt | Urc) -> None:
        if isinstance(event, Prompt):
            body = self._tx.on_prompt() if self._tx is not None else None
            if body is not None:
                if (after_prompt_s := self._after_prompt_s) is not None and self._waiter:
                    self._deadline.arm(after_prompt_s)  # the same wait, for the final result
                    self._after_prompt_s, self._waited_s = None, after_prompt_s
                # No await between the hook and the write. Refused: abort the message instead.
                if self._before_body is not None and not self._before_body():
                    self._refused, body = True, ESC
                # At once, on the loop: the modem waits for it, and nothing but this call lies
                # between the submit log's line (``before_body``) and the PDU's write(). A
                # closed port: the command's wait learns it.
                try:
                    self.write(body)
                except PortClosedError:
                    return
            else:
                log.debug("%s: unexpected '> '", self.port)
        elif isinstance(event, Urc):
            self._urc(event)
        elif self._tx is None:
            if event.text not in ("OK",):
                self._urc(Urc(event.text))  # +CREG: 1 and other URCs of no fixed prefix
        else:
            disposition = self._tx.on_line(event.text)
            if disposition is Disposition.FINAL:
                side = self._sides.flight
                if side is not None and self._tx is side.tx:
                    self._side_answered()
                else:  # the command waited for (an exchange: its trail goes at once)
                    if self._trail:
                        self._sides.queue(self._trail)
                        self._trail = ()
                        if (first := self._sides.start()) is not None:
                            self._write_side(first)
                    self._wake()
            elif disposition is Disposition.UNSOLICITED:
                self._urc(Urc(event.text))

    def _side_answered(self) -> None:
        """A lead's or trail's final result: the next one goes at once (built once this one's
        answer is taken: a free must see the read before it), else the exchange's line (then
        the answer is handed on: the modem works on the line meanwhile), else the port is free."""
        done: Lead | None = self._sides.answered()
        if self._sides.queued:
            assert done is not None
            self._answer(done)
            if (nxt := self._sides.start()) is not None:
                self._write_side(nxt)
                return
            done = None
        if self._then is not None:
            tx, line, prompt_timeout = self._then
            self._then, self._tx = None, tx
            self._deadline.arm(prompt_timeout)
            try:
                self.write(line)
            except PortClosedError:
                self._wake()  # the exchange's wait learns the port closed
        else:
            self._tx = None
            self._wake()  # a command waiting for the port
        if done is not None:
            self._answer(done)

    def _answer(self, side: Lead) -> None:
        assert side.tx is not None
        try:
            side.on_final(side.tx)
        except Exception:  # the rest of this chunk (a URC) is still to be read
            log.exception("%s: the answer to %s", self.port, side.tx.command.text)

    def _write_side(self, side: Lead) -> None:
        assert side.tx is not None
        self._tx = side.tx
        try:
            self.write(side.tx.command.text.encode("ascii") + b"\r")
        except PortClosedError:
            self._sides.drop()
            self._wake()

    async def _after_sides(self, timeout: float) -> None:
        """Wait for the lead or trail in flight (and those queued behind it) before a command;
        ``DeviceTimeoutError`` (it is lost) when it has no final result within ``timeout``."""
        side = self._sides.flight
        if side is None or side.tx is None:
            return
        try:
            await self._wait(timeout, side.tx.command.text)
        except DeviceTimeoutError:
            self._sides.drop()
            self._tx = None
            raise

    def _urc(self, urc: Urc) -> None:
        if self._on_urc is not None:
            self._on_urc(urc)
        else:
            log.debug("%s: URC %r", self.port, urc.text)

    def _wake(self) -> None:
        """End the wait in progress (its stage is over, or the port closed)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._deadline.disarm()
            waiter.set_result(None)

    def _expired(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._timed_out = True
            waiter.set_result(None)

    async def _wait(
        self, timeout: float, what: str, *, after_prompt_s: float | None = None
    ) -> None:
        """Until the command in flight has its final result; ``DeviceTimeoutError`` after
        ``timeout`` s, ``PortClosedError`` when the port closes. ``after_prompt_s``: a command
        with a body (and the leads before it), whose deadline becomes ``after_prompt_s`` from
        its ``> `` on, in the callback that writes the body: one wait, no wake-up between.

        A future of our own, not ``wait_for`` (on Python 3.11 it loses a cancellation that
        meets the result; the worker then never stops) nor ``asyncio.timeout`` (a timer per
        command): ``_deadline`` is the port's one timer."""
        prompted = True  # no prompt waited for, or it came
        tx = self._tx
        if not (self._io.closed or tx is None or tx.done):
            self._waiter = asyncio.get_running_loop().create_future()
            self._timed_out, self._waited_s = False, timeout
            self._after_prompt_s = after_prompt_s
            self._deadline.arm(timeout)
            try:
                await self._waiter
            finally:
                prompted = self._after_prompt_s is None
                self._waiter, self._after_prompt_s = None, None
                self._deadline.disarm()
        if self._io.closed:
            raise PortClosedError(f"{self.port}: port closed during {what}")
        if self._timed_out:
            self._timed_out = False
            if not prompted:
                raise DeviceTimeoutError(f"{self.port}: no '> ' prompt in {timeout} s")
            raise DeviceTimeoutError(f"{self.port}: no answer to {what} in {self._waited_s} s")

    async def _run(self, command: Command, timeout: float) -> Transaction:
        """Write ``command``, collect its answer; the caller holds the lock."""
        tx = Transaction(command)
        self._tx = tx
        try:
            self.write(command.text.encode("ascii") + b"\r")
            if command.final_optional:
                await self._wait_final_optional(tx, timeout)
            else:
                await self._wait(timeout, command.text)
        finally:
            self._tx = None
        return tx

    async def exchange(
        self,
        command: Command,
        body: bytes,
        *,
        prompt_timeout: float,
        final_timeout: float,
        before_body: Callable[[], bool] | None = None,
        lead: Lead | None = None,
        trail: Sequence[Lead] = (),
    ) -> Transaction:
        """Run a command that takes a body after ``> `` (AT+CMGS); return the transaction,
        whose final result may be an error (then nothing was sent). ``before_body`` runs
        just before the body (and its Ctrl-Z) is written: from then on the modem may send;
        when it answers False, ESC goes instead and ``NoPromptError`` says nothing was sent.
        ``lead``: a command first, whatever its result; ``trail``: commands written at the
        final result, in order, each at the previous one's (``port_sides``). When a lead, or
        the trail of the exchange before, has no final result within ``prompt_timeout``, the
        exchange's line was never written (``NoPromptError``).

        Raises ``NoPromptError`` when no prompt (nor final result) came: nothing was sent, ESC
        has aborted the command. Raises ``NoFinalResultError`` when the body went out and no
        final result followed: the modem may have sent it (outcome unknown)."""
        async with self._lock:
            tx = Transaction(command, body=body)
            line = command.text.encode("ascii") + b"\r"
            self._before_body, self._refused, self._trail = before_body, False, trail
            try:
                try:
                    if lead is not None:
                        self._sides.queue((lead,))
                    self._then = (tx, line, prompt_timeout)
                    if self._sides.flight is None:  # else it goes when the trail before ends
                        if (first := self._sides.start()) is not None:
                            self._write_side(first)
                        else:
                            self._then, self._tx = None, tx
                            self.write(line)
                    await self._wait(prompt_timeout, command.text, after_prompt_s=final_timeout)
                except (DeviceTimeoutError, PortClosedError) as exc:
                    if tx.phase is Phase.PROMPT:
                        with contextlib.suppress(PortClosedError):
                            self.write(ESC)
                        raise NoPromptError(str(exc)) from exc
                    if self._refused:
                        raise NoPromptError(f"{self.port}: body refused: {exc}") from exc
                    raise NoFinalResultError(str(exc)) from exc
                if self._refused:  # the modem answered the ESC: nothing was submitted
                    raise NoPromptError(f"{self.port}: {command.text}: body refused, aborted")
            finally:
                self._before_body, self._then, self._trail = None, None, ()
                if not tx.done:  # a lead (or the trail before) unanswered: lost
                    self._sides.drop()
                if self._sides.flight is None:  # else its trail is in flight
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
                await self._wait(max(remaining, 0.0), tx.command.text)
            except DeviceTimeoutError:
                if tx.prefixed_seen:
                    return  # the answer came without a final result: accept it
                raise

    async def command(self, command: Command, timeout: float | None = None) -> list[str]:
        """Run one command; return its response lines or raise ``ModemCommandError``."""
        answer = await self.command_if(command, lambda: True, timeout)
        assert answer is not None
        return answer

    async def command_if(
        self, command: Command, guard: Callable[[], bool], timeout: float | None = None
    ) -> list[str] | None:
        """``command`` when ``guard()`` holds once the command has its turn (the commands
        queued before it have run); None, nothing written, when it does not."""

        async def build() -> Command | None:
            return command if guard() else None

        built = await self.command_built(build, timeout)
        return None if built is None else built[1]

    async def command_built(
        self, build: Callable[[], Awaitable[Command | None]], timeout: float | None = None
    ) -> tuple[Command, list[str]] | None:
        """The command ``build()`` makes once it has its turn (from what is known then; no
        other command runs while it waits), and its response lines; None, nothing written,
        when it makes none."""
        async with self._lock:  # not ``held``: no generator per command on this path
            if self._sides.flight is not None:
                await self._after_sides(timeout or self.command_timeout_s)
            command = await build()
            if command is None:
                return None
            return command, await self._checked(command, timeout)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[Callable[[Command, float | None], Awaitable[list[str]]]]:
        """The port for several commands in a row, no other between them (``AT+CPMS`` then the
        read it selects the memory for): yields ``run(command, timeout)``, which returns the
        response lines or raises ``ModemCommandError``."""
        async with self._lock:
            if self._sides.flight is not None:
                await self._after_sides(self.command_timeout_s)
            yield self._checked

    async def _checked(self, command: Command, timeout: float | None) -> list[str]:
        tx = await self._run(command, timeout or self.command_timeout_s)
        if tx.final is not None and not tx.final.ok:
            raise ModemCommandError(command.text, tx.final.text, tx.final.code)
        return tx.responses
