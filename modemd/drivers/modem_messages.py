"""What a modem says about messages: status reports, routed (+CDS) or stored (+CDSI), and
received SMS, stored (+CMTI) and handed to ``modem_inbox``.

What is stored is read, held and freed by ``modem_memory`` (only after the runtime has
committed it); this module tells reports from SMS and hands each on. Reports that come before
the modem is identified wait: they need its IMEI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from modemd.at import commands as at
from modemd.at.parser import Urc
from modemd.at.transaction import Command
from modemd.drivers.at_port import AtPort, Lead
from modemd.drivers.base import InboundHandler, ReportHandler
from modemd.drivers.memory_select import MemoryPort, Selection
from modemd.drivers.modem_inbox import MULTIPART_TIMEOUT_S, ModemInbox
from modemd.drivers.modem_memory import MessageMemory
from modemd.errors import DeviceError, ModemCommandError, PduError
from modemd.model import DeliveryReport
from modemd.sms.deliver import MessageType, message_type
from modemd.sms.pdu import StatusReport, parse_status_report_pdu, parse_status_report_text
from modemd.sms.status import delivery_report, is_reserved_tp_status

log = logging.getLogger(__name__)


class ModemMessages:
    """Reads, hands on and frees what the modem reports; owns the tasks that do it."""

    def __init__(
        self,
        port: AtPort,
        device_id: Callable[[], str],
        on_report: ReportHandler | None,
        on_inbound: InboundHandler | None = None,
        *,
        multipart_timeout_s: float = MULTIPART_TIMEOUT_S,
    ) -> None:
        self._at = port
        self._tasks: set[asyncio.Task[None]] = set()  # reads of stored messages, timers
        self._selection = Selection()  # the memory AT+CMGR / AT+CMGD act on (<mem1>)
        self.memory = self._new_memory(
            at.MAIN_MEMORY, lambda: self.inbox is not None and self.inbox.holding
        )
        # Status reports kept in a memory of their own ("SR"), where AT+CPMS=? offers one.
        self._apart: dict[str, MessageMemory] = {}
        # No handler: received SMS stay on the SIM (a probe, a test of sending alone).
        self.inbox = (
            ModemInbox(
                port,
                device_id,
                on_inbound,
                spawn=self._spawn,
                memory=self.memory,
                timeout_s=multipart_timeout_s,
            )
            if on_inbound
            else None
        )
        self._memory_full_logged = False
        self._device_id = device_id  # "" until the modem is identified
        self._on_report = on_report
        self._early: list[DeliveryReport] = []  # +CDS seen before the IMEI is known
        self._early_direct: list[at.StoredPdu] = []  # +CMT seen before the IMEI is known
        self.acknowledge = False  # phase 2+: each +CMT taken is acknowledged (AT+CNMA)

    def on_urc(self, urc: Urc) -> bool:
        """Act on a URC about messages; False when it is about something else."""
        if urc.text.startswith("+CMT:"):
            if urc.pdu is not None and self.inbox is not None:  # else the network keeps it
                self._early_direct.append(at.parse_cmt(urc.text, urc.pdu))
                if self._device_id():
                    self.identified()
            return True
        index = at.parse_cmti(urc.text)
        if index is not None:
            if self.inbox is not None and self._device_id():  # else read at open (AT+CMGL)
                self.memory.announce(index)
            return True
        if urc.text.startswith(at.MEMORY_FULL_URCS):
            self.memory_full(urc.text)
            return True
        kept = at.parse_cdsi_memory(urc.text)
        if kept is not None:
            memory, index = kept
            if self._device_id():  # during open, the AT+CMGL catch-up will read it
                self._apart.get(memory, self.memory).announce(index)
            return True
        if not urc.text.startswith("+CDS:"):
            return False
        try:
            if urc.pdu is not None:
                report = parse_status_report_pdu(urc.pdu)
            else:
                report = parse_status_report_text(urc.text)
        except ValueError as exc:
            log.warning(
                "%s: unreadable status report %r %r: %s", self._at.port, urc.text, urc.pdu, exc
            )
            return True
        stored = self._deliver(report)  # routed directly: nothing to free
        if self.acknowledge and urc.pdu is not None:  # phase 2+: AT+CNMA once it is stored
            self._spawn(self._acknowledge_after(stored), "acknowledge +CDS")
        return True

    async def route(self) -> tuple[bool, bool]:
        """AT+CNMI: new SMS stored (+CMTI) where the modem can, else routed (+CMT, acknowledged
        in phase 2+); status reports stored (+CDSI), else routed (+CDS).
        (reports come at all, reports are stored)."""
        self.acknowledge = False
        stored_first = (
            (at.NEW_MESSAGE_INDICATIONS_STORED, True),
            (at.NEW_MESSAGE_INDICATIONS, False),
        )
        if (found := await self._first_accepted(stored_first)) is not None:
            return True, found
        phase2plus = await self._accepted(at.PHASE_2_PLUS)
        direct = ((at.DIRECT_INDICATIONS_STORED_REPORTS, True), (at.DIRECT_INDICATIONS, False))
        if (found := await self._first_accepted(direct)) is not None:
            self.acknowledge = phase2plus
            if not phase2plus:
                log.warning(
                    "%s: SMS routed as +CMT in phase 2 (no AT+CNMA): "
                    "one arriving before it is stored is lost",
                    self._at.port,
                )
            return True, found
        if phase2plus:
            await self._accepted(at.PHASE_2)
        return False, False

    async def _first_accepted(self, choices: tuple[tuple[Command, bool], ...]) -> bool | None:
        """The flag of the first command the modem accepts; None when it refuses them all."""
        for command, flag in choices:
            if await self._accepted(command):
                return flag
        return None

    async def _accepted(self, command: Command) -> bool:
        try:
            await self._at.command(command)
        except ModemCommandError as exc:
            log.info("%s: %s not supported (%s)", self._at.port, command.text, exc.result)
            return False
        return True

    def _new_memory(self, name: str, holding: Callable[[], bool]) -> MessageMemory:
        port = MemoryPort(self._at, self._selection, name)
        memory = MessageMemory(
            port,
            lambda stored: self._take_stored(stored, memory),
            self._spawn,
            holding,
            self._report_now,
        )
        port.on_size = lambda slots: setattr(memory, "slots", slots)
        return memory

    @property
    def memories(self) -> list[MessageMemory]:
        """The main memory and those the modem keeps status reports in apart."""
        return [self.memory, *self._apart.values()]

    async def keep_reports_apart(self) -> None:
        """Where ``AT+CPMS=?`` offers a status report memory ("SR") for reading, a ``+CDSI``
        naming it is read and freed there (``memory_select``), and it is listed at open."""
        if at.REPORT_MEMORY in self._apart:
            return
        try:
            offered = at.parse_read_memories(await self._at.command(at.MEMORIES_TEST))
        except ModemCommandError as exc:
            log.info("%s: %s: %s", self._at.port, at.MEMORIES_TEST.text, exc.result)
            return
        if at.REPORT_MEMORY in offered:
            apart = self._new_memory(at.REPORT_MEMORY, lambda: False)
            apart.delete_flags = self.memory.delete_flags
            self._apart[at.REPORT_MEMORY] = apart

    async def before_send(self) -> Lead | None:
        """A part is about to be sent: each memory's due reads and frees (``read_turns``); one
        read may come back to go in the send's own turn (``MessageMemory.before_send``)."""
        lead: Lead | None = None
        for memory in self.memories:
            lead = await memory.before_send(fold=lead is None) or lead
        return lead

    def trail(self) -> list[Lead]:
        """What goes at a send's final result, in its turn: each memory's due read and free
        (``MessageMemory.trail``), built then; fresh for each send."""
        return [lead for memory in self.memories for lead in memory.trail()]

    def after_send(self, seconds: float) -> None:
        for memory in self.memories:
            memory.after_send(seconds)

    async def tidy(self) -> None:
        """Idle until the next send: free what was read and committed, in every memory. No
        commit is waited for (the worker waits for its next job after this): a read still
        settling puts its memory's free off to its commit (``MessageMemory._took_now``)."""
        for memory in self.memories:
            memory.idle = True
            await memory.free_read(settle_s=0.0)

    def identified(self) -> None:
        """The modem's IMEI is known: hand on the reports that waited for it."""
        early, self._early = self._early, []
        for report in early:
            self._hand_on(report)
        direct, self._early_direct = self._early_direct, []
        for routed in direct:
            self._spawn(self._take_direct(routed), "take +CMT")

    async def choose_storage(self) -> None:
        """Messages in the SIM (AT+CPMS); a full memory is read out at once. Whether the
        modem frees every read message in one AT+CMGD (delflag 1, not all firmware has it)."""
        try:
            flags = at.parse_delete_flags(await self._at.command(at.DELETE_TEST))
        except ModemCommandError:
            flags = False
        for memory in self.memories:
            memory.delete_flags = flags
        try:
            usage = at.parse_storage(await self._at.command(at.STORAGE_SIM))
        except ModemCommandError as exc:
            log.info("%s: %s not supported (%s)", self._at.port, at.STORAGE_SIM.text, exc.result)
            return
        finally:
            self._selection.reset()  # refused: the modem's default memory, as before
        if usage is None:
            return
        used, total = usage
        if total:
            self.memory.slots = total
        log.info("%s: message memory %d of %d used", self._at.port, used, total)
        if total and used >= total:
            self.memory_full(f"{used} of {total} at open")

    def memory_full(self, why: str) -> None:
        """The message memory is full: read it out (logged once per episode)."""
        if not self._memory_full_logged:
            log.warning("%s: message memory full (%s): reading it out", self._at.port, why)
            self._memory_full_logged = True
        if self._device_id():
            self._spawn(self.read_stored(), "drain memory")

    async def read_stored(self) -> None:
        """Every stored message (AT+CMGL=4), each by its TP-MTI: reports and received SMS
        handed on, each freed once committed; what is neither is logged and left."""
        for memory in self.memories:
            await memory.list_all()
        self._memory_full_logged = False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _deliver(self, status_report: StatusReport) -> Awaitable[object] | None:
        """Hand a report on; the handler may return an awaitable that ends once it is stored."""
        if is_reserved_tp_status(status_report.status):
            log.warning(
                "%s: reserved TP-Status 0x%02X, treated as pending",
                self._at.port,
                status_report.status,
            )
        report = delivery_report(status_report)
        if not self._device_id():
            self._early.append(report)
            return None
        return self._hand_on(report)

    def _hand_on(self, report: DeliveryReport) -> Awaitable[object] | None:
        if self._on_report is None:
            return None
        return self._on_report(self._device_id(), report)

    def _report_now(self, stored: at.StoredPdu) -> Awaitable[object] | bool | None:
        """A stored status report handed on at once (``modem_memory.TakeNow``): what its
        handler returns (an awaitable that ends once it is stored), or True when nothing is to
        be waited for; None when the PDU is not a readable report (``_take_stored`` then)."""
        try:  # its TP-MTI checked by the parse: a DELIVER, a SUBMIT or garbage fails it
            report = parse_status_report_pdu(stored.with_smsc)
        except (PduError, ValueError):
            return None
        stored_report = self._deliver(report)
        return True if stored_report is None else stored_report

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._at.port} {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take_direct(self, routed: at.StoredPdu) -> None:
        """+CMT: join and hand on; in phase 2+ acknowledge once stored (a part: once held), so
        a crash before that leaves the message with the network, which delivers it again."""
        assert self.inbox is not None
        await self.inbox.take(None, routed.with_smsc)
        if self.acknowledge:
            await self._acknowledge_after(None)

    async def _acknowledge_after(self, stored: Awaitable[object] | None) -> None:
        """AT+CNMA once ``stored`` (the commit of what the +CMT or +CDS said) has ended."""
        if stored is not None:
            await asyncio.shield(stored)
        try:
            await self._at.command(at.ACKNOWLEDGE)
        except DeviceError as exc:  # too late: the network delivers it again, stored once
            log.warning("%s: AT+CNMA failed (%s): it will come again", self._at.port, exc)

    async def _take_stored(self, stored: at.StoredPdu, memory: MessageMemory) -> bool:
        """Hand on one stored PDU by its TP-MTI, so a report is never decoded as an SMS nor
        an SMS as a report; each is freed (AT+CMGD) only once its handler committed it (a
        readable report went at once: ``_report_now``). True: its index is kept until freed
        (``MessageMemory.free_later``)."""
        assert stored.index is not None
        pdu = stored.with_smsc
        try:
            kind: MessageType | None = message_type(pdu)
        except PduError:
            kind = None  # garbage: the inbox keeps it raw
        if kind is MessageType.STATUS_REPORT:  # unreadable: a readable one went at once
            try:
                parse_status_report_pdu(pdu)
            except ValueError as exc:  # nothing to commit: the log line is its only record
                log.warning(
                    "%s: unreadable stored report %d freed: %s (PDU %s)",
                    self._at.port,
                    stored.index,
                    exc,
                    pdu,
                )
                await memory.free_now(stored.index)
                return False
            raise AssertionError("a readable stored report is handed on by _report_now")
        elif kind is MessageType.SUBMIT:  # written by someone else (AT+CMGW): not ours to free
            log.info("%s: stored SMS-SUBMIT at %d left alone", self._at.port, stored.index)
        elif memory is not self.memory:  # the inbox reads and frees the SIM's messages only
            log.warning(
                "%s: a message other than a report at %d of the reports' memory left alone",
                self._at.port,
                stored.index,
            )
        elif self.inbox is not None:  # an SMS-DELIVER, reserved TP-MTI or garbage (kept raw)
            await self.inbox.take(stored.index, pdu)  # freed by the inbox once committed
            return True
        return False
