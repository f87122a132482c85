"""The emulator's line observers (``on_input``/``on_output``), used by bench/ to time the pty."""

from __future__ import annotations

import asyncio
import os

from modemd.emulators.modem_bank import EmulatedBank

ANSWER_TIMEOUT_S = 2.0  # upper bound only: the answer comes in milliseconds


async def test_observers_see_each_chunk_in_both_directions() -> None:
    bank = EmulatedBank.create(1, seed=7)
    async with bank:
        modem = bank.modems[0]
        seen_in: list[bytes] = []
        seen_out: list[bytes] = []
        modem.on_input = seen_in.append
        modem.on_output = seen_out.append
        fd = os.open(modem.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        loop = asyncio.get_running_loop()
        answered = bytearray()
        done = asyncio.Event()

        def on_readable() -> None:
            answered.extend(os.read(fd, 64))
            if b"OK\r\n" in answered:
                done.set()

        loop.add_reader(fd, on_readable)
        try:
            os.write(fd, b"ATE0\r")
            await asyncio.wait_for(done.wait(), ANSWER_TIMEOUT_S)
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        assert b"".join(seen_in) == b"ATE0\r"
        assert b"".join(seen_out) == bytes(answered)


async def test_observers_are_off_by_default() -> None:
    bank = EmulatedBank.create(1, seed=7)
    async with bank:
        assert bank.modems[0].on_input is None
        assert bank.modems[0].on_output is None
