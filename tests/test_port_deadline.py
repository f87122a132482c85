"""The port's one timer (drivers.deadline) on a real loop, and the emulator's line discipline
fed in runs: the same bytes out as when fed one byte at a time."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from modemd.drivers.deadline import Deadline
from modemd.emulators.modem_session import ModemSession
from modemd.emulators.profile import ModemProfile, emulated_identity
from modemd.sms.pdu import build_submit_pdus


class CountingLoop(asyncio.SelectorEventLoop):
    """A real loop that counts the timers made on it."""

    timers = 0

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        self.timers += 1
        return super().call_at(when, callback, *args, context=context)


def run(main: Any) -> Any:
    loop = CountingLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


async def _poll(condition: Any, deadline_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not condition():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.005)


def test_a_deadline_fires_once_when_it_passes() -> None:
    async def main(loop: CountingLoop) -> list[str]:
        fired: list[str] = []
        deadline = Deadline(lambda: fired.append("expired"))
        deadline.arm(0.01)
        await _poll(lambda: bool(fired))
        await asyncio.sleep(0.05)
        return fired

    assert run(main) == ["expired"]


def test_a_disarmed_deadline_never_fires() -> None:
    async def main(loop: CountingLoop) -> list[str]:
        fired: list[str] = []
        deadline = Deadline(lambda: fired.append("expired"))
        deadline.arm(0.02)
        deadline.disarm()
        await asyncio.sleep(0.1)
        return fired

    assert run(main) == []


def test_a_later_deadline_is_kept_by_rearming_and_an_earlier_one_replaces_the_timer() -> None:
    async def main(loop: CountingLoop) -> tuple[list[float], float]:
        fired: list[float] = []
        deadline = Deadline(lambda: fired.append(loop.time()))
        start = loop.time()
        deadline.arm(0.02)
        deadline.disarm()
        deadline.arm(0.15)  # the timer at 0.02 fires, finds 0.15 ahead and re-arms once
        await _poll(lambda: bool(fired))
        late = fired[0] - start
        deadline.arm(5.0)
        deadline.arm(0.01)  # earlier than the armed timer: replaces it
        await _poll(lambda: len(fired) == 2)
        deadline.cancel()
        return fired, late

    fired, late = run(main)
    assert late >= 0.15
    assert len(fired) == 2


def test_many_short_waits_make_almost_no_timers() -> None:
    async def main(loop: CountingLoop) -> int:
        deadline = Deadline(lambda: None)
        before = loop.timers
        for _ in range(500):  # one command's wait: armed, answered, disarmed
            deadline.arm(5.0)
            await asyncio.sleep(0)
            deadline.disarm()
        deadline.cancel()
        return loop.timers - before

    made = run(main)
    assert made <= 2  # asyncio.timeout made (and cancelled) one per wait: 500


def _session() -> ModemSession:
    identity = emulated_identity(7)
    profile = ModemProfile(identity.imei, identity.imsi, identity.iccid, urc_noise=True)
    return ModemSession(profile, random.Random(7), name="runs")


INPUTS = [
    b"ATE1\rAT+CGSN\rAT+CMGF=0\r",
    b"AT+CGM\x08\x08GMI\r\nAT\x1bATI\rAT\x7f\x7fAT+CSQ\r",  # backspace, LF, ESC, DEL
    b"A" * 1500 + b"\rAT\r",  # a line over the line buffer: cut
    b'ATE1\rAT+CMGF=1\rAT+CMGS="+393331234567"\rhello\x1bAT\r',  # a body aborted by ESC
]


@pytest.mark.parametrize("data", INPUTS)
def test_input_in_runs_answers_as_byte_by_byte(data: bytes) -> None:
    whole, single = _session(), _session()
    assert whole.feed(data) is None
    out = whole.data_to_send()
    for byte in data:
        assert single.feed(bytes([byte])) is None
    assert out == single.data_to_send()
    assert out  # the modem said something


def test_a_pdu_body_in_one_run_submits_as_byte_by_byte() -> None:
    (part,) = build_submit_pdus("+393331234567", "runs of bytes", request_status_report=True)
    data = b"ATE1\rAT+CMGF=0\r" + f"AT+CMGS={part.tpdu_length}\r".encode() + part.hex.encode()
    data += b"\x1aAT\r"  # Ctrl-Z, then a command that waits while the modem is sending
    whole, single = _session(), _session()
    submitted = whole.feed(data)
    singles = [s for byte in data if (s := single.feed(bytes([byte]))) is not None]
    assert submitted is not None and singles == [submitted]
    assert submitted.text == "runs of bytes"
    assert whole.data_to_send() == single.data_to_send()
    assert whole.accept_submission(3) is None
    assert single.accept_submission(3) is None
    assert whole.data_to_send() == single.data_to_send()
