"""How the emulated modem hands what the network delivers to the host, as AT+CNMI and AT+CMGF
say: status reports stored (+CDSI, ds=2) or routed (+CDS, ds=1); received SMS stored (mt 0, 1:
with +CMTI) or routed (+CMT, mt 2, 3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from modemd.sms import pdu

from .modem_at import CRLF, encode_te_string, format_scts, frame_line
from .modem_commands import TOA_INTERNATIONAL, TOA_UNKNOWN, Settings
from .modem_storage import REPORT, MessageStorage, tpdu_octets
from .profile import MessageFormat

CDS_TEXT_FIRST_OCTET = 6  # first octet of an SMS-STATUS-REPORT, as text-mode +CDS shows it
CNMI_MT, CNMI_DS = 1, 3  # indices in the CNMI tuple
CNMI_MT_STORED, CNMI_MT_DIRECT, CNMI_MT_CLASS3 = 1, 2, 3  # +CMTI; +CMT; +CMT for class 3
CNMI_DS_DIRECT = 1  # status reports routed as +CDS
CNMI_DS_STORED = 2  # status reports stored, announced as +CDSI


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
) -> None:
    """A status report arrives from the network; route it as AT+CNMI and AT+CMGF say."""
    routing = settings.cnmi[CNMI_DS]
    if routing == CNMI_DS_STORED and settings.format is MessageFormat.PDU:
        index = storage.store(
            pdu.build_status_report_pdu(mr, recipient, status, scts, discharge), REPORT
        )
        if index is not None:
            urc(frame_line(f'+CDSI: "SR",{index}'))
        return
    if routing != CNMI_DS_DIRECT:
        return
    if settings.format is MessageFormat.PDU:
        hex_pdu = pdu.build_status_report_pdu(mr, recipient, status, scts, discharge)
        urc(frame_line(f"+CDS: {tpdu_octets(hex_pdu)}") + hex_pdu.encode("ascii") + CRLF)
        return
    address = encode_te_string(recipient, settings.charset)
    toa = TOA_INTERNATIONAL if recipient.startswith("+") else TOA_UNKNOWN
    times = f'"{format_scts(scts)}","{format_scts(discharge)}"'
    line = f'+CDS: {CDS_TEXT_FIRST_OCTET},{mr},"{address}",{toa},{times},{status}'
    urc(frame_line(line))


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
