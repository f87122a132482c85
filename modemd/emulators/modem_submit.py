"""What the emulated modem makes of an SMS body submitted with Ctrl-Z, sans-IO: a PDU or a
text-mode body checked as a modem checks it, into the ``Submission`` the network gets."""

from __future__ import annotations

from dataclasses import dataclass

from modemd.sms import pdu

from .modem_at import CmsError, decode_text_body, utf16_units
from .modem_commands import Settings
from .profile import MessageFormat

MAX_TPDU_OCTETS = 164  # largest SMS-SUBMIT TPDU: 1+1+12 (DA)+1+1+7 (VP)+1+140 (UD)
GSM_TEXT_MAX_CHARS = 160
UCS2_TEXT_MAX_UNITS = 70
FO_STATUS_REPORT_REQUEST = 0x20  # TP-SRR bit of the SMS-SUBMIT first octet (AT+CSMP <fo>)
CSMP_FO, CSMP_DCS = 0, 3  # indices in the CSMP tuple
DCS_ALPHABET_MASK = 0x0C
DCS_UCS2 = 0x08


@dataclass(frozen=True)
class Submission:
    """An SMS part handed to the network by Ctrl-Z."""

    to: str
    text: str
    part: int
    total: int
    mode: MessageFormat
    report_requested: bool


class Refused(Exception):
    """The modem refuses a submitted body with +CMS ERROR: <code>."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def read_pdu(body: bytes, tpdu_octets: int, smsc: str | None) -> Submission:
    """A PDU-mode body (hex, SMSC part first) of ``tpdu_octets`` as AT+CMGS announced;
    ``ValueError`` (and kin) when malformed, ``Refused`` when no SMSC is known."""
    hex_pdu = "".join(body.decode("ascii").split()).upper()
    raw = bytes.fromhex(hex_pdu)
    smsc_octets = raw[0]
    if len(raw) - 1 - smsc_octets != tpdu_octets:
        raise ValueError(f"TPDU is {len(raw) - 1 - smsc_octets} octets, not {tpdu_octets}")
    decoded = pdu.decode_submit_pdu(hex_pdu)
    if smsc_octets == 0 and not smsc:
        raise Refused(CmsError.SMSC_ADDRESS_UNKNOWN)
    return Submission(
        decoded.to,
        decoded.text,
        decoded.part,
        decoded.total,
        MessageFormat.PDU,
        decoded.status_report_requested,
    )


def read_text(body: bytes, to: str, settings: Settings, smsc: str | None) -> Submission:
    """A text-mode body for ``to``, in the charset and DCS the settings give."""
    text = decode_text_body(body, settings.charset)
    if settings.csmp[CSMP_DCS] & DCS_ALPHABET_MASK == DCS_UCS2:
        fits = utf16_units(text) <= UCS2_TEXT_MAX_UNITS
    else:
        fits = len(text) <= GSM_TEXT_MAX_CHARS
    if not fits:
        raise ValueError("text does not fit in one SMS")
    if not smsc:
        raise Refused(CmsError.SMSC_ADDRESS_UNKNOWN)
    report = bool(settings.csmp[CSMP_FO] & FO_STATUS_REPORT_REQUEST)
    return Submission(to, text, 1, 1, MessageFormat.TEXT, report)
