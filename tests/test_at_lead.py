"""A command folded into a send's turn (``AtPort.exchange(lead=...)``), over a real pty with the
test as the modem: the send's line is written from the callback that reads the lead's final
result, before its answer is handed on; whatever the lead's result, the send goes; a lead that
is never answered leaves the send unwritten (nothing sent)."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import pytest

from modemd.at import commands as at
from modemd.at.transaction import Command, Transaction
from modemd.drivers.at_port import ESC, AtPort, Lead
from modemd.errors import NoPromptError

CMGS = Command("AT+CMGS=18", prefix="+CMGS:")
BODY = b"0011000B911326880736F40000A900"


class Modem:
    """The pty's master end: what the host wrote so far, and answers written to it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""

    def read_now(self) -> bytes:
        """What the host has written by now (no wait)."""
        with suppress(BlockingIOError):
            self.seen += os.read(self.fd, 4096)
        return self.seen

    async def expect(self, needle: bytes, deadline_s: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while needle not in self.read_now():
            assert loop.time() < end, f"{needle!r} not written: {self.seen!r}"
            await asyncio.sleep(0.005)

    def answer(self, data: bytes) -> None:
        os.write(self.fd, data)


class RecordingPort(AtPort):
    """The real port, with every write it makes noted in ``order`` (the pty's other end may
    see the bytes a moment later: the kernel moves them in a work item of its own)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, command_timeout_s=5.0)
        self.order: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.order.append(data)
        super().write(data)


@asynccontextmanager
async def _port() -> AsyncIterator[tuple[RecordingPort, Modem]]:
    master, slave = os.openpty()
    tty.setraw(master)
    os.set_blocking(master, False)
    port = RecordingPort(os.ttyname(slave))
    port.open_port()
    try:
        yield port, Modem(master)
    finally:
        port.close()
        os.close(slave)
        os.close(master)


class Recorded:
    """A lead's callbacks: the answer it got, what the port had written by then, losses."""

    def __init__(self, port: RecordingPort, command: Command | None = at.LIST_UNREAD_PDU) -> None:
        self.port = port
        self.command = command
        self.answers: list[Transaction] = []
        self.written_then: list[list[bytes]] = []
        self.lost = 0
        self.lead = Lead(lambda: self.command, self.on_final, self.on_lost)

    def on_final(self, tx: Transaction) -> None:
        self.answers.append(tx)
        self.written_then.append(list(self.port.order))

    def on_lost(self) -> None:
        self.lost += 1


async def _exchange(port: AtPort, lead: Lead, prompt_timeout: float = 10.0) -> Transaction:
    return await port.exchange(
        CMGS, BODY, prompt_timeout=prompt_timeout, final_timeout=10.0, lead=lead
    )


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        (b"\r\nOK\r\n", True),  # an empty listing
        (b"\r\n+CMS ERROR: 321\r\n", False),  # refused: the send goes all the same
    ],
)
async def test_the_send_line_goes_in_the_callback_that_reads_the_leads_final_result(
    answer: bytes, ok: bool
) -> None:
    async with _port() as (port, modem):
        recorded = Recorded(port)
        exchange = asyncio.create_task(_exchange(port, recorded.lead))
        await modem.expect(b"AT+CMGL=0\r")
        assert b"AT+CMGS" not in modem.seen  # one command in flight: the lead's
        for n in range(0, len(answer), 3):  # its answer in pieces
            modem.answer(answer[n : n + 3])
            await asyncio.sleep(0.01)
        await modem.expect(b"AT+CMGS=18\r")
        modem.answer(b"\r\n> ")
        await modem.expect(BODY + b"\x1a")
        modem.answer(b"\r\n+CMGS: 5\r\n\r\nOK\r\n")
        tx = await exchange
        assert tx.final is not None and tx.final.ok and tx.responses == ["5"]
        assert len(recorded.answers) == 1 and recorded.lost == 0
        lead_tx = recorded.answers[0]
        assert lead_tx.final is not None and lead_tx.final.ok is ok
        # by the time its answer was handed on, the send's line had been written
        assert recorded.written_then[0] == [b"AT+CMGL=0\r", b"AT+CMGS=18\r"]


async def test_a_lead_never_answered_leaves_the_send_unwritten() -> None:
    async with _port() as (port, modem):
        recorded = Recorded(port)
        with pytest.raises(NoPromptError):
            await _exchange(port, recorded.lead, prompt_timeout=0.2)
        assert port.order == [b"AT+CMGL=0\r", ESC]  # no AT+CMGS, nothing to submit
        await modem.expect(ESC)
        assert b"AT+CMGS" not in modem.seen
        assert recorded.lost == 1 and not recorded.answers


async def test_a_lead_with_nothing_to_do_leaves_the_send_alone() -> None:
    async with _port() as (port, modem):
        recorded = Recorded(port, command=None)  # nothing to read by the send's turn
        exchange = asyncio.create_task(_exchange(port, recorded.lead))
        await modem.expect(b"AT+CMGS=18\r")
        modem.answer(b"\r\n> ")
        await modem.expect(BODY + b"\x1a")
        modem.answer(b"\r\n+CMGS: 6\r\n\r\nOK\r\n")
        assert (await exchange).responses == ["6"]
        assert modem.seen == b"AT+CMGS=18\r" + BODY + b"\x1a"
        assert recorded.lost == 0 and not recorded.answers
