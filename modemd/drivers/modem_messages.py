"""What a modem says about messages: status reports, routed (+CDS) or stored (+CDSI), and
received SMS, stored (+CMTI) and handed to ``modem_inbox``.

A stored message is freed on the modem (AT+CMGD) only after the runtime has committed what it
said, so a crash in between reads it again at the next open (AT+CMGL) instead of losing it.
Reports that come before the modem is identified wait: they need its IMEI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from modemd.at import commands as at
from modemd.at.parser import Urc
from modemd.drivers.at_port import AtPort
from modemd.drivers.base import InboundHandler, ReportHandler
from modemd.drivers.modem_inbox import ModemInbox
from modemd.errors import DeviceError
from modemd.model import DeliveryReport
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
    ) -> None:
        self._at = port
        # No handler: received SMS stay on the SIM (a probe, a test of sending alone).
        self.inbox = ModemInbox(port, device_id, on_inbound) if on_inbound else None
        self._memory_full_logged = False
        self._device_id = device_id  # "" until the modem is identified
        self._on_report = on_report
        self._early: list[DeliveryReport] = []  # +CDS seen before the IMEI is known
        self._tasks: set[asyncio.Task[None]] = set()  # reads of stored messages

    def on_urc(self, urc: Urc) -> bool:
        """Act on a URC about messages; False when it is about something else."""
        index = at.parse_cmti(urc.text)
        if index is not None:
            if self.inbox is not None and self._device_id():  # else read at open (AT+CMGL)
                self._spawn(self._read_inbound(index), f"read SMS {index}")
            return True
        if urc.text.startswith(at.MEMORY_FULL_URCS):
            self.memory_full(urc.text)
            return True
        index = at.parse_cdsi(urc.text)
        if index is not None:
            if self._device_id():  # during open, the AT+CMGL catch-up will read it
                self._spawn(self._read_stored_report(index), f"read report {index}")
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
        self._deliver(report)  # routed directly: nothing to free
        return True

    def identified(self) -> None:
        """The modem's IMEI is known: hand on the reports that waited for it."""
        early, self._early = self._early, []
        for report in early:
            self._hand_on(report)

    def memory_full(self, why: str) -> None:
        """The message memory is full: read it out (logged once per episode)."""
        if not self._memory_full_logged:
            log.warning("%s: message memory full (%s): reading it out", self._at.port, why)
            self._memory_full_logged = True
        if self._device_id():
            self._spawn(self.read_stored(), "drain memory")

    async def read_stored(self) -> None:
        """Every stored message (AT+CMGL=4): reports and received SMS handed on, then freed."""
        try:
            listed = at.parse_listing(await self._at.command(at.LIST_ALL_PDU))
        except DeviceError as exc:
            log.warning("%s: cannot list stored messages: %s", self._at.port, exc)
            return
        for index, hex_pdu in listed:
            try:
                report = parse_status_report_pdu(hex_pdu)
            except ValueError:
                if self.inbox is not None:  # an SMS-DELIVER (or garbage: kept raw)
                    await self.inbox.take(index, hex_pdu)
                continue
            await self._deliver_then_delete(report, index)
        if listed:
            log.info("%s: %d stored messages read", self._at.port, len(listed))
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

    async def _deliver_then_delete(self, report: StatusReport, index: int) -> None:
        """A stored report is freed on the modem only after the handler has stored it."""
        stored = self._deliver(report)
        if stored is not None:
            await asyncio.shield(stored)
        with contextlib.suppress(DeviceError):
            await self._at.command(at.delete_message(index))

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._at.port} {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_inbound(self, index: int) -> None:
        """+CMTI: read the stored SMS (AT+CMGR); the inbox joins, hands on and frees it."""
        assert self.inbox is not None
        try:
            responses = await self._at.command(at.read_message(index))
            hex_pdu = responses[-1]
        except (DeviceError, IndexError) as exc:
            log.warning("%s: stored SMS %d unreadable: %s", self._at.port, index, exc)
            return
        await self.inbox.take(index, hex_pdu)

    async def _read_stored_report(self, index: int) -> None:
        """+CDSI: read the stored report (AT+CMGR), hand it on, then free it (AT+CMGD)."""
        try:
            responses = await self._at.command(at.read_message(index))
            report = parse_status_report_pdu(responses[-1])
        except (DeviceError, ValueError, IndexError) as exc:
            log.warning("%s: stored report %d unreadable: %s", self._at.port, index, exc)
            return
        await self._deliver_then_delete(report, index)
