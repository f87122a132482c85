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


async def _batch_then_one_more(
    modem: EmulatedModem, driver: SerialAtDriver, committer: Committer, slots: int, chain: bool
) -> list[str]:
    """A batch of reports read and committed, then one more report due at a send's end (its
    read in that send's trail), then a send whose trail reads nothing: the commands seen."""
    memory = driver._messages.memory
    memory.slots = slots
    memory.chain_frees = chain
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
    return seen


@pytest.mark.parametrize(
    ("slots", "chain", "trail", "after", "left"),
    [
        (20, True, ["AT+CMGD=1,1;+CMGR="], [], 1),
        (12, True, ["AT+CMGD=1,1;+CMGR="], [], 1),
        (20, False, ["AT+CMGR="], ["AT+CMGD=1,1"], 0),
        (12, False, ["AT+CMGD=", "AT+CMGR="], [], 1),
    ],
)
async def test_a_batch_free_due_with_a_read_goes_on_the_reads_line(
    slots: int, chain: bool, trail: list[str], after: list[str], left: int
) -> None:
    """A batch of reports committed and one more report due at the same send's end: one line
    frees the batch and then reads the new one (``AT+CMGD=1,1;+CMGR=<i>``: one round trip
    before the next send instead of two), whatever the memory's size; the read one waits for
    its commit and the idle moment. A driver that writes one command a line (``chain_frees``
    off, as after a modem refused such a line) reads first and frees the batch in the next
    trail without a read, or, on a memory near its crowded mark (12 slots: what is held or
    announced within two of 6), frees first, as before."""
    committer = Committer()
    async with emulated_driver(45, committer, **SLOW_SEND) as (modem, driver):
        assert isinstance(driver, SerialAtDriver)
        seen = await _batch_then_one_more(modem, driver, committer, slots, chain)
        storage = modem._session.storage
        await until(lambda: storage.used == left)  # the read one left, or freed
        assert _after_send(seen, 0) == ["AT+CMGL=0"], seen  # the batch read
        assert _heads(_after_send(seen, 1), trail), seen
        assert _after_send(seen, 2) == after, seen
        await driver.tidy()
        await until(lambda: storage.used == 0)
        assert all(c.split(";")[0].endswith(",1") for c in seen if c.startswith("AT+CMGD")), seen
        references = sorted(r.reference for r, _ in committer.reports)
        assert references == sorted(m.mr for m in modem.accepted[: driver_batch(driver) + 1])


async def test_a_modem_that_refuses_a_line_of_two_commands_loses_nothing() -> None:
    """Firmware that takes one command a line answers ``AT+CMGD=1,1;+CMGR=<i>`` with ERROR
    (neither ran): the driver writes one command a line from then on, the batch is freed alone
    and the report is read again; every report committed once, the memory emptied."""
    committer = Committer()
    async with emulated_driver(45, committer, chains_commands=False, **SLOW_SEND) as (
        modem,
        driver,
    ):
        assert isinstance(driver, SerialAtDriver)
        seen = await _batch_then_one_more(modem, driver, committer, 20, True)
        memory = driver._messages.memory
        assert not memory.chain_frees
        refused = [c for c in seen if ";" in c]
        assert len(refused) == 1 and refused[0].startswith("AT+CMGD=1,1;+CMGR="), seen
        await driver.tidy()
        storage = modem._session.storage
        await until(lambda: storage.used == 0)
        assert seen.count("AT+CMGD=1,1") >= 1, seen
        references = sorted(r.reference for r, _ in committer.reports)  # each once
        assert references == sorted(m.mr for m in modem.accepted[: driver_batch(driver) + 1])


@pytest.mark.parametrize("chain", [True, False])
async def test_a_batch_free_waits_for_the_read_to_come(chain: bool) -> None:
    """A batch committed and a report announced that is not due at a send's end: that trail
    frees nothing, and the read, due before the next send, carries the batch on its line (one
    round trip between the two sends). One command a line: the batch is freed alone in the
    trail, then the read goes: two."""
    committer = Committer()
    async with emulated_driver(46, committer, **SLOW_SEND) as (modem, driver):
        assert isinstance(driver, SerialAtDriver)
        memory = driver._messages.memory
        memory.chain_frees = chain
        batch = memory.free_batch
        for n in range(batch + 1):
            await driver.send_sms(f"+3933300008{n:02d}", "its report comes later")
        memory.turns.defer_s = 0.0
        seen = commands_seen(modem)
        await _while_sending(modem, driver, list(range(batch)), "+393330000890")
        await until(lambda: len(committer.reports) == batch)  # the batch, committed
        memory.turns.defer_s = 3600.0  # the report can wait past this send's end
        await _while_sending(modem, driver, [batch], "+393330000891")
        memory.turns.defer_s = 0.0  # ... and is due before the next send
        await driver.send_sms("+393330000892", "the report read before it")
        await until(lambda: len(committer.reports) == batch + 1)
        expected = ["AT+CMGD=1,1;+CMGR="] if chain else ["AT+CMGD=1,1", "AT+CMGR="]
        assert _heads(_after_send(seen, 1), expected), seen


def driver_batch(driver: SerialAtDriver) -> int:
    return driver._messages.memory.free_batch


def _heads(commands: list[str], heads: list[str]) -> bool:
    """``commands`` are as many as ``heads``, each beginning with its head."""
    return len(commands) == len(heads) and all(map(str.startswith, commands, heads))
