"""SMS PDUs (3GPP TS 23.040): SMS-SUBMIT build/parse, SMS-STATUS-REPORT build/parse.

The only module of modemd that imports python-gsmmodem-new (its GSM-7 tables and SUBMIT
encoder are good; its UCS-2 encoder fails on non-BMP text and it has no status-report encoder,
so those parts are ours). Hex strings are upper-case, without spaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    hex: str  # full PDU as written after the "> " prompt, starting with the SMSC part ("00")
    tpdu_length: int  # octets excluding the SMSC part: the argument of AT+CMGS=<n>
    part: int  # 1-based part number
    total: int  # number of parts of the message


@dataclass(frozen=True, slots=True)
class DecodedSubmit:
    """What a network (the emulator) reads out of an SMS-SUBMIT."""

    to: str  # destination digits, with a leading "+" when the TON is international
    text: str  # this part's text
    status_report_requested: bool  # TP-SRR
    concat_ref: int | None  # concatenation reference, None for a single-part message
    part: int  # 1-based
    total: int


@dataclass(frozen=True, slots=True)
class StatusReport:
    """An SMS-STATUS-REPORT (+CDS), parsed."""

    reference: int  # TP-MR of the SUBMIT it reports on, 0..255
    recipient: str  # TP-RA digits, "+" prefixed when international
    status: int  # raw TP-ST octet
    scts: datetime | None  # when the SC received the SUBMIT
    discharge: datetime | None  # TP-DT


def build_submit_pdus(
    to: str, text: str, *, request_status_report: bool = True, concat_ref: int = 0
) -> list[SubmitPdu]:
    """Encode ``text`` for ``to`` as one SMS-SUBMIT per part (concat UDH when more than one)."""
    raise NotImplementedError


def decode_submit_pdu(hex_pdu: str) -> DecodedSubmit:
    """Decode a SUBMIT PDU (with its leading SMSC part) as written after AT+CMGS."""
    raise NotImplementedError


def build_status_report_pdu(
    reference: int, recipient: str, status: int, scts: datetime, discharge: datetime
) -> str:
    """Encode an SMS-STATUS-REPORT PDU (with an empty SMSC part "00") as a modem emits it."""
    raise NotImplementedError


def parse_status_report_pdu(hex_pdu: str) -> StatusReport:
    """Parse the PDU that follows a ``+CDS: <len>`` line (SMSC part present or "00")."""
    raise NotImplementedError


def parse_status_report_text(line: str) -> StatusReport:
    """Parse a text-mode ``+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>`` line."""
    raise NotImplementedError
