"""Commands folded into a send's turn (``AtPort.exchange(lead=..., trail=...)``), over a real
pty with the test as the modem: the send's line is written from the callback that reads the
lead's final result, before its answer is handed on; whatever the lead's result, the send goes;
a lead that is never answered leaves the send unwritten (nothing sent). A trail is written from
the callback that reads the send's final result, before the send's caller resumes; whoever
takes the port next waits for its answer (the next send's line goes from that callback too);
one never answered is lost (``on_lost``) and the next send is not written."""

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
from modemd.errors import DeviceTimeoutError, NoFinalResultError, NoPromptError

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
        self.built_then: list[list[bytes]] = []  # what the port had written when it was built
        self.lost = 0
        self.lead = Lead(self.build, self.on_final, self.on_lost)

    def build(self) -> Command | None:
        self.built_then.append(list(self.port.order))
        return self.command

    def on_final(self, tx: Transaction) -> None:
        self.answers.append(tx)
        self.written_then.append(list(self.port.order))

    def on_lost(self) -> None:
        self.lost += 1


async def _exchange(
    port: AtPort, lead: Lead | None, prompt_timeout: float = 10.0, trail: tuple[Lead, ...] = ()
) -> Transaction:
    return await port.exchange(
        CMGS, BODY, prompt_timeout=prompt_timeout, final_timeout=10.0, lead=lead, trail=trail
    )


async def _sent(
    port: RecordingPort, modem: Modem, trail: tuple[Lead, ...], mr: int = 5
) -> list[bytes]:
    """One exchange with ``trail``, the test answering as the modem; what the port had written
    when the exchange's caller resumed."""
    exchange = asyncio.create_task(_exchange(port, None, trail=trail))
    await modem.expect(b"AT+CMGS=18\r")
    modem.answer(b"\r\n> ")
    await modem.expect(BODY + b"\x1a")
    modem.answer(b"\r\n+CMGS: %d\r\n\r\nOK\r\n" % mr)
    assert (await exchange).responses == [str(mr)]
    return list(port.order)


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


@pytest.mark.parametrize("with_lead", [False, True])
async def test_after_the_prompt_the_send_waits_its_final_timeout_not_the_prompts(
    with_lead: bool,
) -> None:
    """One wait covers the prompt and the final result: its deadline becomes the final
    timeout in the callback that writes the body (after a lead too), so a +CMGS slower than
    the prompt's timeout is the send's answer, and none within the final timeout is an
    unknown outcome (the body went out), not a prompt that never came."""
    async with _port() as (port, modem):
        for final_timeout, mr in ((10.0, b"7"), (0.3, None)):
            modem.seen = b""
            lead = Recorded(port, command=at.LIST_UNREAD_PDU if with_lead else None).lead
            sending = asyncio.create_task(
                port.exchange(
                    CMGS, BODY, prompt_timeout=0.2, final_timeout=final_timeout, lead=lead
                )
            )
            if with_lead:
                await modem.expect(b"AT+CMGL=0\r")
                modem.answer(b"\r\nOK\r\n")
            await modem.expect(b"AT+CMGS=18\r")
            modem.answer(b"\r\n> ")
            await modem.expect(BODY + b"\x1a")
            if mr is None:
                with pytest.raises(NoFinalResultError, match="no answer"):
                    await sending
                modem.answer(b"\r\n+CMGS: 8\r\n\r\nOK\r\n")  # late: nobody's
                await asyncio.sleep(0.05)
                continue
            await asyncio.sleep(0.5)  # longer than the prompt's timeout
            modem.answer(b"\r\n+CMGS: " + mr + b"\r\n\r\nOK\r\n")
            assert (await sending).responses == [mr.decode()]


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


async def test_a_trail_goes_at_the_sends_final_result_and_the_next_send_at_the_trails() -> None:
    async with _port() as (port, modem):
        trail = Recorded(port, at.read_message(3))
        written = await _sent(port, modem, (trail.lead,))
        # written from the callback that read +CMGS: before the send's caller resumed
        assert written[-1] == b"AT+CMGR=3\r" and not trail.answers
        assert trail.built_then == [[b"AT+CMGS=18\r", BODY + b"\x1a"]]
        nxt = asyncio.create_task(_exchange(port, None))
        await modem.expect(b"AT+CMGR=3\r")
        await asyncio.sleep(0.05)
        assert modem.read_now().count(b"AT+CMGS") == 1  # one command in flight: the trail's
        modem.answer(b"\r\n+CMGR: ,,25\r\n07911326040000F0\r\n\r\nOK\r\n")
        await modem.expect(b"AT+CMGR=3\rAT+CMGS=18\r")
        assert trail.written_then == [[*written, b"AT+CMGS=18\r"]]  # the send's line first
        assert trail.answers[0].responses == [",,25", "07911326040000F0"]
        modem.answer(b"\r\n> ")
        await modem.expect(BODY + b"\x1aAT+CMGR=3\r" + b"AT+CMGS=18\r" + BODY + b"\x1a")
        modem.answer(b"\r\n+CMGS: 6\r\n\r\nOK\r\n")
        assert (await nxt).responses == ["6"]
        assert trail.lost == 0 and len(trail.answers) == 1


async def test_a_command_waits_for_the_trail_and_the_next_in_the_trail_for_the_answer_before() -> (
    None
):
    async with _port() as (port, modem):
        free, read = Recorded(port, at.delete_read(1)), Recorded(port, at.LIST_UNREAD_PDU)
        await _sent(port, modem, (free.lead, read.lead))
        assert port.order[-1] == b"AT+CMGD=1,1\r" and read.built_then == []
        signal = asyncio.create_task(port.command(at.SIGNAL))
        modem.answer(b"\r\nOK\r\n")
        await modem.expect(b"AT+CMGD=1,1\rAT+CMGL=0\r")
        assert len(free.answers) == 1 and len(read.built_then) == 1  # built after the answer
        await asyncio.sleep(0.05)
        assert b"AT+CSQ" not in modem.read_now()
        modem.answer(b"\r\nOK\r\n")
        await modem.expect(b"AT+CMGL=0\rAT+CSQ\r")
        modem.answer(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
        assert await signal == ["20,99"]
        assert len(read.answers) == 1 and free.lost == read.lost == 0


async def test_a_trail_with_nothing_to_do_leaves_the_port_free() -> None:
    async with _port() as (port, modem):
        idle = Recorded(port, command=None)
        written = await _sent(port, modem, (idle.lead,))
        assert written == [b"AT+CMGS=18\r", BODY + b"\x1a"] and len(idle.built_then) == 1
        signal = asyncio.create_task(port.command(at.SIGNAL))
        await modem.expect(BODY + b"\x1aAT+CSQ\r")
        modem.answer(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
        assert await signal == ["20,99"]
        assert not idle.answers and idle.lost == 0


async def test_a_trail_never_answered_is_lost_and_the_next_send_not_written() -> None:
    async with _port() as (port, modem):
        trail = Recorded(port)
        await _sent(port, modem, (trail.lead,))
        with pytest.raises(NoPromptError):
            await _exchange(port, None, prompt_timeout=0.2)
        assert trail.lost == 1 and not trail.answers
        assert port.order[-2:] == [b"AT+CMGL=0\r", ESC]  # the next AT+CMGS never went
        signal = asyncio.create_task(port.command(at.SIGNAL))  # the port is free again
        await modem.expect(ESC + b"AT+CSQ\r")
        modem.answer(b"\r\n+CSQ: 9,99\r\n\r\nOK\r\n")
        assert await signal == ["9,99"] and trail.lost == 1


async def test_a_command_after_a_trail_never_answered_times_out_and_the_trail_is_lost() -> None:
    async with _port() as (port, modem):
        trail = Recorded(port)
        await _sent(port, modem, (trail.lead,))
        with pytest.raises(DeviceTimeoutError):
            await port.command(at.SIGNAL, timeout=0.2)
        assert trail.lost == 1 and b"AT+CSQ" not in modem.read_now()


async def test_a_trail_in_flight_when_the_port_closes_is_lost_once() -> None:
    async with _port() as (port, modem):
        trail = Recorded(port)
        await _sent(port, modem, (trail.lead,))
        port.close()
        port.close()
        assert trail.lost == 1 and not trail.answers
