"""How the emulated modem hands what the network delivers to the host, as AT+CNMI and AT+CMGF
say: status reports stored (+CDSI, ds=2) or routed (+CDS, ds=1); received SMS stored (mt 0, 1:
with +CMTI) or routed (+CMT, mt 2, 3).

A routed SMS in phase 2+ (AT+CSMS=1) is the network's until the host acknowledges it with
AT+CNMA (27.005 3.4.4): no other +CMT comes meanwhile; a negative acknowledgement, or none
within the network's timer, leaves the message with the network, which delivers it again
later, and the modem turns routing off (CNMI mt and ds 0) as 27.005 says. A status report
routed as +CDS in phase 2+ waits for AT+CNMA the same way (one +CMT or +CDS at a time); one
never acknowledged is dropped with the routing (a real network may send it again later).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Collection
from datetime import datetime

from modemd.sms import pdu

from .modem_at import CRLF, ERROR, Param, Reply, encode_te_string, format_scts, frame_line
from .modem_commands import TOA_INTERNATIONAL, TOA_UNKNOWN, Handler, Settings, one_int
from .modem_storage import REPORT, MessageStorage, tpdu_octets
from .profile import MessageFormat

log = logging.getLogger(__name__)

CDS_TEXT_FIRST_OCTET = 6  # first octet of an SMS-STATUS-REPORT, as text-mode +CDS shows it
CNMI_MT, CNMI_DS = 1, 3  # indices in the CNMI tuple
CNMI_MT_STORED, CNMI_MT_DIRECT, CNMI_MT_CLASS3 = 1, 2, 3  # +CMTI; +CMT; +CMT for class 3
CNMI_DS_DIRECT = 1  # status reports routed as +CDS
CNMI_DS_STORED = 2  # status reports stored, announced as +CDSI
CSMS_PHASE2_PLUS = 1  # AT+CSMS=1: routed messages wait for AT+CNMA
CNMA_NACK = 2  # AT+CNMA=2: negative acknowledgement (PDU mode)
CMS_NO_CNMA_EXPECTED = 340  # 27.005 3.2.5: no +CNMA acknowledgement expected


def route_status_report(
    settings: Settings,
    storage: MessageStorage,
    urc: Callable[[bytes], None],
    *,
    mr: int,
    recipient: str,
    status: int,
    scts: datetime,
    discharge: datetime,
    memory: str = "SM",
    routed: Callable[[bytes], None] | None = None,
) -> bool:
    """A status report arrives from the network; route it as AT+CNMI and AT+CMGF say
    (``memory``: the name ``storage`` has in +CDSI; ``routed``: where a PDU-mode +CDS goes,
    the acknowledgement's keeper; default ``urc``).
    False when the memory is full: the network keeps it (RP-ERROR, memory capacity exceeded)
    and delivers it again once a slot is freed (``SmsCentre``)."""
    routing = settings.cnmi[CNMI_DS]
    if routing == CNMI_DS_STORED and settings.format is MessageFormat.PDU:
        index = storage.store(
            pdu.build_status_report_pdu(mr, recipient, status, scts, discharge), REPORT
        )
        if index is None:
            log.info("memory full: the status report of MR %d waits in the network", mr)
            return False
        urc(frame_line(f'+CDSI: "{memory}",{index}'))
        return True
    if routing != CNMI_DS_DIRECT:
        return True
    if settings.format is MessageFormat.PDU:
        hex_pdu = pdu.build_status_report_pdu(mr, recipient, status, scts, discharge)
        framed = frame_line(f"+CDS: {tpdu_octets(hex_pdu)}") + hex_pdu.encode("ascii") + CRLF
        (routed or urc)(framed)
        return True
    address = encode_te_string(recipient, settings.charset)
    toa = TOA_INTERNATIONAL if recipient.startswith("+") else TOA_UNKNOWN
    times = f'"{format_scts(scts)}","{format_scts(discharge)}"'
    line = f'+CDS: {CDS_TEXT_FIRST_OCTET},{mr},"{address}",{toa},{times},{status}'
    urc(frame_line(line))
    return True


def route_sms(
    settings: Settings, storage: MessageStorage, urc: Callable[[bytes], None], hex_pdu: str
) -> bool:
    """An SMS-DELIVER arrives from the network, routed as AT+CNMI <mt> says: stored (0, 1:
    with +CMTI) or routed as +CMT (2, 3). False when the memory is full: not taken."""
    mt = settings.cnmi[CNMI_MT]
    if mt in (CNMI_MT_DIRECT, CNMI_MT_CLASS3) and settings.format is MessageFormat.PDU:
        urc(frame_line(f"+CMT: ,{tpdu_octets(hex_pdu)}") + hex_pdu.encode() + CRLF)
        return True
    index = storage.store(hex_pdu)
    if index is None:
        return False
    if mt == CNMI_MT_STORED:
        urc(frame_line(f'+CMTI: "SM",{index}'))
    return True


def refusing_routing(cnmi: Handler, mt: Collection[int], ds: Collection[int]) -> Handler:
    """Firmware that lacks some routings: AT+CNMI with such an mt or ds answers ERROR."""
    assert cnmi.set is not None
    setter = cnmi.set
    refused = ((CNMI_MT, {str(v) for v in mt}), (CNMI_DS, {str(v) for v in ds}))

    def checked(params: tuple[Param, ...]) -> Reply:
        if any(len(params) > i and params[i].text in values for i, values in refused):
            return ERROR
        return setter(params)

    return Handler(exec=cnmi.exec, read=cnmi.read, set=checked, test=cnmi.test)


class DirectAcks:
    """AT+CSMS and AT+CNMA: the +CMT routed in phase 2+ that waits for its acknowledgement."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        cms: Callable[[int], Reply],
        urc: Callable[[bytes], None],
    ) -> None:
        self._settings = settings
        self._cms = cms
        self._urc = urc
        self.phase2plus = True  # False: firmware refuses AT+CSMS=1
        self.awaiting: str | None = None  # the PDU of the +CMT not yet acknowledged
        self.report_held = False  # a +CDS waits for AT+CNMA
        self._reports: collections.deque[bytes] = collections.deque()  # +CDS behind it
        self.on_answer: Callable[[bool], None] | None = None  # the network: taken or not
        self.on_free: Callable[[], None] | None = None  # the network may route a +CMT again

    @property
    def busy(self) -> bool:
        """A +CMT or +CDS waits for AT+CNMA: nothing else is routed meanwhile."""
        return self.awaiting is not None or self.report_held

    def route_report(self, data: bytes) -> None:
        """A +CDS: at once in phase 2 (the modem acknowledges it), else held until AT+CNMA."""
        if self._settings().csms != CSMS_PHASE2_PLUS:
            self._urc(data)
        elif self.busy:
            self._reports.append(data)
        else:
            self.report_held = True
            self._urc(data)

    def handlers(self) -> dict[str, Handler]:
        return {
            "+CSMS": Handler(
                set=self._set_service,
                read=lambda: Reply((f"+CSMS: {self._settings().csms},1,1,1",)),
                test=f"+CSMS: (0-{int(self.phase2plus)})",
            ),
            "+CNMA": Handler(exec=lambda: self._answer(0), set=self._answer_with),
        }

    def hold(self, hex_pdu: str) -> bool:
        """After ``route_sms``: True when ``hex_pdu`` went out as a +CMT that waits for AT+CNMA."""
        settings = self._settings()
        direct = settings.cnmi[CNMI_MT] in (CNMI_MT_DIRECT, CNMI_MT_CLASS3)
        if settings.csms != CSMS_PHASE2_PLUS or not direct:
            return False
        self.awaiting = hex_pdu
        return True

    def timed_out(self) -> None:
        """No AT+CNMA in time: the network keeps the message (reports are dropped); routing to
        the host is off."""
        if not self.busy:
            return
        cnmi = list(self._settings().cnmi)
        cnmi[CNMI_MT] = cnmi[CNMI_DS] = 0
        self._settings().cnmi = tuple(cnmi)
        self.report_held = False
        self._reports.clear()
        if self.awaiting is not None:
            self._settle(taken=False)
        elif self.on_free is not None:
            self.on_free()

    def _set_service(self, params: tuple[Param, ...]) -> Reply:
        service = one_int(params, 0, 1)
        if service == CSMS_PHASE2_PLUS and not self.phase2plus:
            return ERROR
        self._settings().csms = service
        return Reply(("+CSMS: 1,1,1",))

    def _answer_with(self, params: tuple[Param, ...]) -> Reply:
        return self._answer(params[0].as_int(0, CNMA_NACK) if params else 0)

    def _answer(self, n: int) -> Reply:
        if not self.busy or self._settings().csms != CSMS_PHASE2_PLUS:
            return self._cms(CMS_NO_CNMA_EXPECTED)
        if self.report_held:  # a NACK of a report: dropped, as after a timeout
            self.report_held = False
        else:
            self._settle(taken=n != CNMA_NACK)  # the network may route the next +CMT at once
        if not self.busy and self._reports:
            self.report_held = True
            self._urc(self._reports.popleft())
        elif not self.busy and self.on_free is not None:
            self.on_free()
        return Reply()

    def _settle(self, *, taken: bool) -> None:
        self.awaiting = None
        if self.on_answer is not None:
            self.on_answer(taken)
