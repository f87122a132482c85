"""What a send's trail (the commands at its final result, in its turn) carries when a stored
report's read and a batch free are both due: the read first, so the report waits for no free
(its IPN counts from the end of the send in progress); the free then waits for a trail without
a read (its delflag would free the report before its commit), unless the memory nears its
crowded mark. Over a real pty against the emulator, the commands as the modem read them."""

from __future__ import annotations

import asyncio

import pytest
from inbound_side import Committer, commands_seen, emulated_driver, until

from modemd.drivers.serial_at import SerialAtDriver
from modemd.emulators.modem import EmulatedModem, LineState

SLOW_SEND = {"send_latency_s": (0.3, 0.3), "report_delay_s": 3600.0, "cds_direct": False}


async def _while_sending(
    modem: EmulatedModem, driver: SerialAtDriver, meanwhile: list[int], to: str
) -> None:
    """One send; the reports of ``modem.accepted[i]`` for each ``i`` in ``meanwhile`` come
    while the modem is busy with it (after Ctrl-Z)."""
    send = asyncio.create_task(driver.send_sms(to, "a send"))
    await until(lambda: modem.line_state is LineState.SENDING)
    for i in meanwhile:
        modem.deliver_report(modem.accepted[i])
    await send


def _after_send(seen: list[str], nth: int) -> list[str]:
    """The commands between the ``nth`` AT+CMGS= and the next one (or the end)."""
    sends = [n for n, c in enumerate(seen) if c.startswith("AT+CMGS")]
    end = sends[nth + 1] if nth + 1 < len(sends) else len(seen)
    return seen[sends[nth] + 1 : end]


@pytest.mark.parametrize(("slots", "free_first"), [(20, False), (12, True)])
async def test_a_read_due_at_a_sends_end_goes_before_a_batch_free_unless_the_memory_is_near_full(
    slots: int, free_first: bool
) -> None:
    """A batch of reports committed and one more report due at the same send's end: the read
    goes first and the batch waits for the next trail without a read, where one AT+CMGD=<i>,1
    frees all (the read one too, committed by then). On a memory near its crowded mark (the
    driver told 12 slots: what is held or announced within two of 6) the free goes first, as
    it did always before, and the read one waits for the idle moment."""
    committer = Committer()
    async with emulated_driver(45, committer, **SLOW_SEND) as (modem, driver):
        assert isinstance(driver, SerialAtDriver)
        memory = driver._messages.memory
        memory.slots = slots
        batch = memory.free_batch
        for n in range(batch + 1):
            await driver.send_sms(f"+3933300007{n:02d}", "its report comes later")
        memory.turns.defer_s = 0.0  # a report is read at the end of the send it came in
        seen = commands_seen(modem)
        await _while_sending(modem, driver, list(range(batch)), "+393330000790")
        await until(lambda: len(committer.reports) == batch)  # the batch, committed
        await _while_sending(modem, driver, [batch], "+393330000791")  # one more report
        await until(lambda: len(committer.reports) == batch + 1)
        await driver.send_sms("+393330000792", "a send whose trail reads nothing")
        storage = modem._session.storage
        await until(lambda: storage.used == (1 if free_first else 0))  # the read one left
        assert _after_send(seen, 0) == ["AT+CMGL=0"], seen  # the batch read
        trail = _after_send(seen, 1)
        assert len(trail) == 2 if free_first else len(trail) == 1, seen
        assert trail[0].startswith("AT+CMGD=" if free_first else "AT+CMGR="), seen
        assert trail[-1].startswith("AT+CMGR="), seen
        after = _after_send(seen, 2)
        assert after == ([] if free_first else ["AT+CMGD=1,1"]), seen
        await driver.tidy()
        await until(lambda: storage.used == 0)
        assert all(c.endswith(",1") for c in seen if c.startswith("AT+CMGD")), seen
        references = sorted(r.reference for r, _ in committer.reports)
        assert references == sorted(m.mr for m in modem.accepted[: batch + 1])
