"""Stored messages read in batches: what +CMTI / +CDSI announce while a send is in flight is
read by one AT+CMGL=0 right after it (before the next send), and received SMS are freed in a
batch like status reports, never before their commit. Byte by byte through the sans-IO layer,
then over a real pty against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from inbound_side import Committer, commands_seen, emulated_driver, until

from modemd.at import commands as at
from modemd.at.parser import AtParser, Line, Urc
from modemd.at.transaction import Disposition, Transaction
from modemd.drivers.serial_at import SerialAtDriver
from modemd.emulators.modem import AcceptedMessage, EmulatedModem, LineState, MessageFormat
from modemd.emulators.modem_bank import EmulatedBank
from modemd.model import DeliveryReport
from modemd.sms.deliver_build import build_deliver
from modemd.sms.pdu import build_status_report_pdu

FREE_BATCH_OF_20 = 5  # ``free_batch`` of a 20-slot SIM (a quarter)
SLOW_SEND = {"send_latency_s": (0.3, 0.3), "report_delay_s": 3600.0, "cds_direct": False}


def _octets(hex_pdu: str) -> int:
    return len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)


@pytest.mark.parametrize("chunk", [1, 2, 7, 4096])
def test_an_unread_listing_with_urcs_between_its_lines_however_the_bytes_come(
    chunk: int,
) -> None:
    from datetime import UTC, datetime

    scts = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    sms = build_deliver("+393331234567", "ciao", scts=scts)[0]
    report = build_status_report_pdu(7, "+393331234567", 0x00, scts, scts)
    data = (
        b"\r\n+CMGL: 3,0,,%d\r\n%s\r\n" % (_octets(sms), sms.encode())
        + b'\r\n+CDSI: "SM",5\r\n'  # a URC between two entries
        + b"\r\n+CMGL: 4,0,,%d\r\n%s\r\n" % (_octets(report), report.encode())
        + b"\r\nOK\r\n"
    )
    parser, tx, urcs = AtParser(), Transaction(at.LIST_UNREAD_PDU), []
    for i in range(0, len(data), chunk):
        for event in parser.feed(data[i : i + chunk]):
            if isinstance(event, Urc):
                urcs.append(event.text)
            elif isinstance(event, Line):
                assert tx.on_line(event.text) is not Disposition.UNSOLICITED
    assert tx.done and tx.final is not None and tx.final.ok
    assert urcs == ['+CDSI: "SM",5']
    listed = at.parse_listing(tx.responses)
    assert [(s.index, s.pdu) for s in listed] == [(3, sms), (4, report)]


async def _while_sending(
    modem: EmulatedModem, driver: SerialAtDriver, meanwhile: Callable[[], None]
) -> None:
    """One send; ``meanwhile`` runs while the modem is busy with it (after Ctrl-Z)."""
    send = asyncio.create_task(driver.send_sms("+393330000001", "a send"))
    await until(lambda: modem.line_state is LineState.SENDING)
    meanwhile()
    await send


@contextlib.asynccontextmanager
async def _modem(
    seed: int, committer: Committer, **overrides: Any
) -> AsyncIterator[tuple[EmulatedModem, SerialAtDriver]]:
    """An emulated modem that sends slowly and its open driver, wired to ``committer``."""
    async with emulated_driver(seed, committer, **{**SLOW_SEND, **overrides}) as (modem, driver):
        assert isinstance(driver, SerialAtDriver)
        yield modem, driver


async def test_what_arrives_during_a_send_is_read_by_one_listing_before_the_next_send() -> None:
    committer = Committer()
    async with _modem(31, committer) as (modem, driver):
        await driver.send_sms("+393330000002", "its report comes later")
        storage = modem._session.storage
        seen = commands_seen(modem)

        def arrive() -> None:
            modem.deliver_report(modem.accepted[0])
            modem.network.send("+447700900001", "first reply")
            modem.network.send("+447700900002", "second reply")

        await _while_sending(modem, driver, arrive)
        await driver.send_sms("+393330000003", "the next send")  # a backlog: no tidy
        await until(lambda: len(committer.messages) == 2 and len(committer.reports) == 1)
        sends = [n for n, c in enumerate(seen) if c.startswith("AT+CMGS")]
        assert seen[sends[0] + 1] == "AT+CMGL=0", seen  # right after the send in flight
        assert not [c for c in seen if c.startswith("AT+CMGR")], seen
        assert sends[1] > seen.index("AT+CMGL=0")
        texts = sorted(m.text or "" for m, _ in committer.messages)
        assert texts == ["first reply", "second reply"]
        assert committer.reports[0][0].reference == modem.accepted[0].mr
        assert storage.used == 3  # committed, kept until the modem idles (``free_batch``)
        await driver.tidy()
        assert storage.used == 0
        assert [c for c in seen if c.startswith("AT+CMGD")] == ["AT+CMGD=1,1"], seen


@pytest.mark.parametrize(("defer_s", "between"), [(3600.0, False), (0.0, True)])
async def test_in_a_backlog_a_read_comes_between_two_sends_only_when_it_cannot_wait(
    defer_s: float, between: bool
) -> None:
    """A report and an SMS announced during a send, the next send following at once as in a
    backlog: read before it only when waiting for a later turn would be too long
    (``ReadTurns.defer_s``, ``READ_DEFER_S`` in production), else once no send follows;
    nothing lost."""
    committer = Committer()
    async with _modem(38, committer) as (modem, driver):
        await driver.send_sms("+393330000004", "its report comes later")
        driver._messages.memory.turns.defer_s = defer_s
        seen = commands_seen(modem)

        async def backlog() -> None:
            await driver.send_sms("+393330000005", "a send")
            await driver.send_sms("+393330000006", "the next, at once")

        sending = asyncio.create_task(backlog())
        await until(lambda: modem.line_state is LineState.SENDING)
        modem.deliver_report(modem.accepted[0])
        modem.network.send("+447700900005", "a reply")
        await sending
        await until(lambda: len(committer.reports) == 1 and len(committer.messages) == 1)
        sends = [n for n, c in enumerate(seen) if c.startswith("AT+CMGS")]
        reads = [n for n, c in enumerate(seen) if c.startswith(("AT+CMGL", "AT+CMGR"))]
        assert len(sends) == 2 and reads, seen
        assert (sends[0] < reads[0] < sends[1]) is between, seen
        assert seen[reads[0]] == "AT+CMGL=0", seen  # both by one listing
        assert committer.reports[0][0].reference == modem.accepted[0].mr
        assert committer.texts == {"+447700900005": "a reply"}


class TaskNoting(Committer):
    """Notes the task each report's handler is called in (None: a callback of the loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.called_in: list[asyncio.Task[Any] | None] = []

    def on_report(self, device_id: str, report: DeliveryReport) -> asyncio.Task[None]:
        self.called_in.append(asyncio.current_task())
        return super().on_report(device_id, report)


async def test_a_report_due_at_a_sends_end_is_read_before_whatever_its_caller_runs_next() -> None:
    """The read goes in the callback that reads the send's +CMGS (its trail), before the
    driver's caller has woken: a command the caller runs at once comes after it. The report
    goes to its handler in the callback that reads the answer, with no task between."""
    committer = TaskNoting()
    async with _modem(39, committer) as (modem, driver):
        await driver.send_sms("+393330000007", "its report comes later")
        driver._messages.memory.turns.defer_s = 0.0  # due at once
        seen = commands_seen(modem)
        await _while_sending(modem, driver, lambda: modem.deliver_report(modem.accepted[0]))
        await driver.check_signal()  # the caller's next command, at once
        await until(lambda: len(committer.reports) == 1)
        send = next(n for n, c in enumerate(seen) if c.startswith("AT+CMGS"))
        assert seen[send + 1 : send + 3] == ["AT+CMGR=1", "AT+CSQ"], seen
        assert committer.reports[0][0].reference == modem.accepted[0].mr
        # handed on in the port's callback that read it: no task of its own on the way
        assert committer.called_in == [None]


class FailingOnce(Committer):
    """The first report's commit fails (the store refused it); the others commit."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = 0

    def on_report(self, device_id: str, report: DeliveryReport) -> asyncio.Task[None]:
        if self.failed:
            return super().on_report(device_id, report)
        self.failed += 1

        async def refused() -> None:
            raise RuntimeError("not stored")

        return asyncio.ensure_future(refused())


async def test_a_report_whose_commit_fails_stays_on_the_modem_and_is_handed_on_again() -> None:
    committer = FailingOnce()
    async with _modem(41, committer) as (modem, driver):
        await driver.send_sms("+393330000008", "its report comes later")
        storage = modem._session.storage
        await _while_sending(modem, driver, lambda: modem.deliver_report(modem.accepted[0]))
        await until(lambda: committer.failed == 1)
        await driver.tidy()  # idle: what was committed is freed, not this one
        assert storage.used == 1 and not committer.reports
        await driver.catch_up()  # the next listing of everything (a reopen does the same)
        await until(lambda: len(committer.reports) == 1 and storage.used == 0)
        assert committer.reports[0][0].reference == modem.accepted[0].mr


async def test_a_batch_committed_during_a_send_is_freed_at_its_end_in_its_turn() -> None:
    """A batch of reports read and committed while a send is in flight: their AT+CMGD=<i>,1
    goes in the callback that reads that send's +CMGS (its trail), before the driver's
    caller has woken, not as a turn of its own before the next send."""
    hold = asyncio.Event()
    committer = Committer(hold=hold)
    async with _modem(40, committer) as (modem, driver):
        batch = driver._messages.memory.free_batch
        for n in range(batch):
            await driver.send_sms(f"+3933300003{n:02d}", "its report comes later")
        driver._messages.memory.turns.defer_s = 0.0  # read at the end of the send
        storage = modem._session.storage
        seen = commands_seen(modem)

        def arrive() -> None:
            for message in modem.accepted[:batch]:
                modem.deliver_report(message)

        await _while_sending(modem, driver, arrive)  # read at its end; commits held
        send = asyncio.create_task(driver.send_sms("+393330000399", "commits land meanwhile"))
        await until(lambda: modem.line_state is LineState.SENDING)
        hold.set()
        await until(lambda: len(committer.reports) == batch)
        assert not [c for c in seen if c.startswith("AT+CMGD")], seen  # not during the send
        await send
        await driver.check_signal()  # the caller's next command, at once
        sends = [n for n, c in enumerate(seen) if c.startswith("AT+CMGS")]
        assert seen[sends[-1] + 1 :] == ["AT+CMGD=1,1", "AT+CSQ"], seen
        assert storage.used == 0


async def test_an_idle_free_waits_for_a_commit_without_the_port() -> None:
    """A report read and not yet committed when the worker idles: ``tidy`` frees nothing and
    returns at once, and a free that waits for the commit does so without the port, so the
    next send has it meanwhile (the wait held the port: up to ``SETTLE_WAIT_S`` before the
    next job's line). Once committed, the report is freed."""
    hold = asyncio.Event()
    committer = Committer(hold=hold)
    async with _modem(42, committer) as (modem, driver):
        memory = driver._messages.memory
        memory.settle_s = 3600.0  # a commit that cannot come before the next send
        await driver.send_sms("+393330000010", "its report comes later")
        memory.turns.defer_s = 0.0  # read at the end of the send
        seen = commands_seen(modem)
        await _while_sending(modem, driver, lambda: modem.deliver_report(modem.accepted[0]))
        await until(lambda: memory._unsettled == 1)  # read and handed on; its commit held
        await driver.tidy()
        freeing = asyncio.create_task(memory.free_read())
        await asyncio.sleep(0)  # its first step: it waits for the commit
        await driver.send_sms("+393330000011", "the next job, meanwhile")
        assert not freeing.done() and not [c for c in seen if c.startswith("AT+CMGD")], seen
        hold.set()
        await freeing
        await until(lambda: modem._session.storage.used == 0)
        assert [c for c in seen if c.startswith("AT+CMGD")] == ["AT+CMGD=1,1"], seen
        assert len(committer.reports) == 1


class HoldingSome(Committer):
    """Commits at once, but the reports of ``held`` message references wait for ``hold``."""

    def __init__(self, hold: asyncio.Event, held: set[int]) -> None:
        super().__init__()
        self._gate, self._held = hold, held

    def on_report(self, device_id: str, report: DeliveryReport) -> asyncio.Task[None]:
        if report.reference not in self._held:
            return super().on_report(device_id, report)

        async def later() -> None:
            await self._gate.wait()
            self.reports.append((report, None))

        return asyncio.ensure_future(later())


@contextlib.asynccontextmanager
async def _one_commit_late(
    seed: int, parts: int, slots: int | None = None
) -> AsyncIterator[tuple[EmulatedModem, SerialAtDriver, HoldingSome, list[str], asyncio.Event]]:
    """``parts`` sent, then their reports all read at the end of one more send, each committed
    at once but the last, held until the event yielded is set; the commands from that send on.
    A free waits 50 ms for that commit, then is put off."""
    hold = asyncio.Event()
    async with _modem(seed, Committer()) as (modem, driver):
        memory = driver._messages.memory
        if slots is not None:
            memory.slots = slots
        for n in range(parts):
            await driver.send_sms(f"+393330{seed:03d}{n:02d}", "its report comes later")
        committer = HoldingSome(hold, {modem.accepted[parts - 1].mr})
        driver._messages._on_report = committer.on_report
        memory.turns.defer_s = 0.0  # read at the end of the send
        memory.settle_s = 0.05
        seen = commands_seen(modem)

        def arrive() -> None:
            for message in modem.accepted[:parts]:
                modem.deliver_report(message)

        await _while_sending(modem, driver, arrive)  # all read at its end, one commit late
        await until(lambda: len(committer.reports) == parts - 1)
        await asyncio.sleep(0.2)  # past the free's wait for the late commit
        yield modem, driver, committer, seen, hold


async def test_a_batch_is_put_off_while_a_read_settles_not_freed_one_index_at_a_time() -> None:
    """A full batch committed while one more read waits for its commit (commits lag under a
    loaded store): its delflag free is put off until that commit, then frees all in one
    AT+CMGD=<i>,1; never an AT+CMGD per index (a round trip each, between two sends) while the
    memory is not crowded."""
    async with _one_commit_late(43, FREE_BATCH_OF_20 + 1) as (modem, driver, committer, seen, hold):
        assert driver._messages.memory.free_batch == FREE_BATCH_OF_20  # a full batch waits
        await driver.send_sms("+393330000599", "the next send")
        assert not [c for c in seen if c.startswith("AT+CMGD")], seen
        hold.set()
        await until(lambda: len(committer.reports) == FREE_BATCH_OF_20 + 1)
        await driver.tidy()
        await until(lambda: modem._session.storage.used == 0)
        assert [c for c in seen if c.startswith("AT+CMGD")] == ["AT+CMGD=1,1"], seen


async def test_a_crowded_memory_frees_by_index_only_as_many_as_leave_it_under_its_mark() -> None:
    """Half the memory held, its batch free put off by a read whose commit lags (a delflag
    would free that one too): one AT+CMGD per index, but only as many as leave room for two
    reports under the crowded mark, not every index committed (a round trip each, between two
    sends); the rest go in one AT+CMGD=<i>,1 once the late read is committed."""
    async with _one_commit_late(46, 6, slots=12) as (modem, driver, committer, seen, hold):
        await driver.send_sms("+393330000899", "the next send")  # 12 slots: crowded at 6
        storage = modem._session.storage
        each = [c for c in seen if c.startswith("AT+CMGD")]
        assert len(each) == 2 and not any(c.endswith(",1") for c in each), seen  # 6 -> 4
        assert storage.used == 4
        hold.set()
        await until(lambda: len(committer.reports) == 6)
        await driver.tidy()
        await until(lambda: storage.used == 0)
        batch = [c for c in seen if c.startswith("AT+CMGD")][2:]
        assert len(batch) == 1 and batch[0].endswith(",1"), seen


async def test_a_batch_committed_between_two_sends_is_freed_in_the_next_sends_trail() -> None:
    """A batch whose commits land after a send's end, before the next send: its delflag free
    goes at the next send's end (its trail), not as a command of its own that the next send's
    line would wait behind."""
    hold = asyncio.Event()
    committer = Committer(hold=hold)
    async with _modem(44, committer) as (modem, driver):
        batch = driver._messages.memory.free_batch
        for n in range(batch):
            await driver.send_sms(f"+3933300006{n:02d}", "its report comes later")
        driver._messages.memory.turns.defer_s = 0.0  # read at the end of the send
        seen = commands_seen(modem)

        def arrive() -> None:
            for message in modem.accepted[:batch]:
                modem.deliver_report(message)

        await _while_sending(modem, driver, arrive)  # read at its end; commits held
        hold.set()
        await until(lambda: len(committer.reports) == batch)  # committed between two sends
        await asyncio.sleep(0.1)  # a free of its own would be on the wire by now
        assert not [c for c in seen if c.startswith("AT+CMGD")], seen
        await driver.send_sms("+393330000699", "the next send")
        await until(lambda: modem._session.storage.used == 0)
        sends = [n for n, c in enumerate(seen) if c.startswith("AT+CMGS")]
        assert seen[sends[-1] + 1] == "AT+CMGD=1,1", seen


async def test_received_sms_are_never_freed_before_their_commit() -> None:
    hold = asyncio.Event()
    committer = Committer(hold=hold)
    async with _modem(32, committer) as (modem, driver):
        storage = modem._session.storage
        seen = commands_seen(modem)

        def arrive() -> None:
            modem.network.send("+447700900003", "kept until stored")
            modem.network.send("+447700900004", "this one too")

        await _while_sending(modem, driver, arrive)
        await until(lambda: "AT+CMGL=0" in seen)
        await driver.tidy()  # idle: yet nothing is committed, so nothing is freed
        await asyncio.sleep(0.2)
        assert storage.used == 2 and not [c for c in seen if c.startswith("AT+CMGD")]
        hold.set()
        await until(lambda: len(committer.messages) == 2 and storage.used == 0)
        assert [c for c in seen if c.startswith("AT+CMGD")] == ["AT+CMGD=1,1"], seen


async def test_a_listing_that_leaves_reports_out_falls_back_to_reading_each() -> None:
    committer = Committer()
    async with _modem(33, committer, cmgl_lists_reports=False) as (modem, driver):
        for n in range(2):
            await driver.send_sms(f"+39333000001{n}", "reports come later")
        seen = commands_seen(modem)

        def arrive() -> None:
            for message in modem.accepted[:2]:
                modem.deliver_report(message)

        await _while_sending(modem, driver, arrive)
        await until(lambda: len(committer.reports) == 2)
        reads = [c for c in seen if c.startswith(("AT+CMGL", "AT+CMGR"))]
        assert reads == ["AT+CMGL=0", "AT+CMGR=1", "AT+CMGR=2"], seen
        assert driver._messages.memory.list_unread is False  # from now on: AT+CMGR each
        await _while_sending(modem, driver, lambda: modem.deliver_report(modem.accepted[2]))
        await until(lambda: len(committer.reports) == 3)
        assert [c for c in seen if c.startswith("AT+CMGL")] == ["AT+CMGL=0"]


async def test_under_a_backlog_reports_read_between_sends_are_freed_by_the_delflag() -> None:
    """A report comes during every send and is read right after it: a read is always queued,
    yet the batch goes as one AT+CMGD=<i>,1 once nothing read waits for its commit when the
    command has its turn, never one AT+CMGD per report between two sends."""
    committer = Committer()
    backlog = {"send_latency_s": (0.05, 0.05), "report_delay_s": 0.02}
    async with _modem(34, committer, **backlog) as (modem, driver):
        seen = commands_seen(modem)
        batch = driver._messages.memory.free_batch
        sends = 2 * batch + 2
        for n in range(sends):  # no tidy between them: a backlog
            await driver.send_sms(f"+3933300002{n:02d}", "backlog")
        await until(lambda: len(committer.reports) == sends)
        deletes = [c for c in seen if c.startswith("AT+CMGD")]
        assert deletes and all(c.endswith(",1") for c in deletes), seen
        assert len(deletes) <= sends // batch + 1, seen
        assert len([c for c in seen if c.startswith(("AT+CMGR", "AT+CMGL"))]) <= sends


def _answers(modem: EmulatedModem) -> list[bytes]:
    """Every +CMS ERROR and +CDSI line the modem writes from now on."""
    lines: list[bytes] = []
    modem.on_output = lambda data: lines.extend(
        line for line in data.split(b"\r\n") if line.startswith((b"+CMS ERROR", b"+CDSI"))
    )
    return lines


async def test_frees_at_idle_moments_and_under_a_backlog_never_free_an_index_twice() -> None:
    """Reports read while sends go on and the worker idles now and then: the frees (per index
    while a read settles, the delflag once none does) never overlap, so no index is freed twice
    (the second AT+CMGD of an index frees whatever the modem stored there next, unread)."""
    committer = Committer()
    fast = {"send_latency_s": (0.001, 0.005), "report_delay_s": 0.05}
    async with _modem(35, committer, **fast) as (modem, driver):
        answers = _answers(modem)
        seen = commands_seen(modem)
        sends = 150
        for n in range(sends):
            await driver.send_sms(f"+393330003{n:03d}", "stress")
            if n % 3 == 2:
                idle = asyncio.create_task(driver.tidy())  # the worker idles a moment
                await asyncio.sleep(0.01)
                await idle
        await driver.tidy()
        await asyncio.sleep(0.3)  # the last reports reach the modem (0.05 s after their send)
        # Every report the modem stored (a full SIM drops one: the emulator logs it) is
        # handed on, and none is freed twice (+CMS ERROR: 321, or a report lost unread).
        stored = lambda: len([a for a in answers if a.startswith(b"+CDSI")])  # noqa: E731
        await until(lambda: len(committer.reports) >= stored() > 0)
        await driver.tidy()
        await until(lambda: modem._session.storage.used == 0)
        assert [a for a in answers if a.startswith(b"+CMS")] == [], seen
        assert len(committer.reports) == stored()
        assert len({r.reference for r, _ in committer.reports}) == len(committer.reports)


async def test_a_report_meeting_a_full_memory_waits_in_the_network_until_a_free() -> None:
    """RP-ERROR "memory capacity exceeded": the SMSC keeps the report and delivers it again
    once the modem frees a slot (RP-SMMA), never drops it."""
    async with EmulatedBank.create(1, seed=36, profile_overrides={"storage_slots": 2}) as bank:
        modem = bank.modems[0]
        fd = os.open(modem.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            os.write(fd, b"ATE0\rAT+CMGF=0\rAT+CNMI=2,1,0,2,0\r")
            await until(lambda: modem._session.commands.settings.cnmi[3] == 2)
            sent = [_accepted(modem, mr) for mr in (7, 8, 9)]
            for message in sent:
                modem.deliver_report(message)
            storage = modem._session.storage
            assert storage.used == 2 and len(modem.network.waiting_reports) == 1
            os.write(fd, b"AT+CMGD=1\r")  # a slot frees: the third report comes in
            await until(lambda: not modem.network.waiting_reports)
            assert storage.used == 2
        finally:
            os.close(fd)


def _accepted(modem: EmulatedModem, mr: int) -> AcceptedMessage:
    return AcceptedMessage(
        modem.name,
        modem.profile.imei,
        mr,
        "+393330000042",
        "x",
        1,
        1,
        MessageFormat.PDU,
        time.time(),
    )


# Reports in the network at once (parts sent, their reports not yet landed). Half the memory
# (the crowded mark) is left for those landing while the driver waits for commits: at most
# this many land then, whatever the commits' pace.
IN_FLIGHT = 6


class HeldReports:
    """The network's side of a modem's reports, by count: each part's report lands
    ``IN_FLIGHT`` parts later, in the middle of that part's send (``mid_send``, the modem's
    input tap), or sooner with ``land()``."""

    def __init__(self) -> None:
        self.modem: EmulatedModem | None = None
        self.landed = 0

    def land(self, upto: int | None = None) -> None:
        """The reports of the parts before ``upto`` (all sent parts: None) land."""
        assert self.modem is not None
        accepted = self.modem.accepted
        while self.landed < (len(accepted) if upto is None else upto):
            self.modem.deliver_report(accepted[self.landed])
            self.landed += 1

    def mid_send(self, data: bytes) -> None:
        """The modem has a part once this chunk is read: the report ``IN_FLIGHT`` back lands."""
        if b"\x1a" in data:
            assert self.modem is not None
            upto = len(self.modem.accepted) - IN_FLIGHT
            asyncio.get_running_loop().call_soon(self.land, upto)


class Landing(Committer):
    """A committer whose every report's commit first lands the reports still in the network:
    they arrive while the driver waits for it (the most that can)."""

    def __init__(self, network: HeldReports) -> None:
        super().__init__()
        self._network = network

    def on_report(self, device_id: str, report: DeliveryReport) -> asyncio.Task[None]:
        asyncio.get_running_loop().call_soon(self._network.land)
        return super().on_report(device_id, report)


async def test_under_a_fast_backlog_the_network_never_keeps_a_report_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Reports read between fast sends (1-5 ms) are freed in time on a 20-slot SIM: the
    network never has to keep one back. Each part's report lands ``IN_FLIGHT`` sends later,
    in the middle of that send, or, when sooner, as soon as a read report's commit begins (the
    driver may be waiting for it): the count of reports, not the machine's pace, decides what
    the memory holds. (With the network's own timer, 50 ms after each part, the reports in
    flight were as many as the parts sent in 50 ms, 8-25, and a commit slowed past ~40 ms by a
    loaded machine let more than the 10 free slots land while the driver waited: 1 run in 17.
    A guard, not a proof of the half-memory threshold: on a smaller SIM at this pace the reads
    themselves fall behind.)"""
    network = HeldReports()
    committer = Landing(network)
    async with _modem(37, committer, send_latency_s=(0.001, 0.005)) as (modem, driver):
        network.modem = modem
        modem.on_input = network.mid_send
        storage = modem._session.storage
        most = 0
        with caplog.at_level(logging.INFO, logger="modemd.emulators.modem_routing"):
            for n in range(80):  # a backlog: no tidy
                await driver.send_sms(f"+393330004{n:03d}", "backlog")
                most = max(most, storage.used)
            network.land()
            await until(lambda: len(committer.reports) == 80)
        assert "waits in the network" not in caplog.text
        assert most < storage.slots


@pytest.mark.parametrize("slots", [8, 12])
async def test_a_small_sim_under_a_fast_backlog_keeps_up_and_loses_no_report(slots: int) -> None:
    """8-12 slots, sends of 1-3 ms, a report a few ms after each: once half the memory is taken
    the driver reads, waits for the commits and frees before the next send, so the network
    never finds the memory full (it would keep the report back: minutes on a real network),
    and every report is read and matched to its send."""
    committer = Committer()
    fast = {"send_latency_s": (0.001, 0.003), "report_delay_s": 0.005, "storage_slots": slots}
    async with _modem(39, committer, **fast) as (modem, driver):
        answers = _answers(modem)
        storage = modem._session.storage
        kept_back = most = 0
        sends = 60
        for n in range(sends):  # a backlog: no tidy
            await driver.send_sms(f"+393330005{n:03d}", "small SIM")
            most = max(most, storage.used)
            kept_back = max(kept_back, len(modem.network.waiting_reports))
        await until(lambda: len(committer.reports) == sends)
        await driver.tidy()
        await until(lambda: storage.used == 0)
        assert [a for a in answers if a.startswith(b"+CMS")] == []
        assert sorted(r.reference for r, _ in committer.reports) == sorted(
            m.mr for m in modem.accepted
        )
        assert kept_back == 0 and most < slots, (most, kept_back)
