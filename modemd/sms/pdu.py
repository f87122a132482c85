"""SMS PDUs (3GPP TS 23.040): SMS-SUBMIT build/parse, SMS-STATUS-REPORT build/parse.

The only module of modemd allowed to import python-gsmmodem-new, and it does not need to: its
GSM-7 tables are wrong in places (0x5F is "`" not "§", form feed missing), its UCS-2 encoder fails
on non-BMP text, its SUBMIT encoder splits on its own and uses TP-MR as the concat reference, and
it has no status-report encoder. The tests cross-check this module against it where it is right.
Hex strings are upper-case, without spaces. Malformed input raises PduError (a ValueError)
naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from modemd.errors import PduError
from modemd.sms.encoding import Encoding, decode_gsm7, encode_gsm7, split_message
from modemd.sms.tpdu import (
    PduReader,
    check_octet,
    decode_timestamp,
    encode_address,
    encode_timestamp,
    from_hex,
    header_septets,
    make_timestamp,
    pack_septets,
)
from modemd.sms.udh import concat_element, encode_udh, split_user_data


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


# First-octet bits (23.040 9.2.3).
_MTI_MASK = 0x03
_MTI_SUBMIT = 0x01
_MTI_STATUS_REPORT = 0x02
_MMS_NO_MORE = 0x04  # TP-MMS in a status report: no more messages waiting
_VPF_RELATIVE = 0x10
_SRR = 0x20  # TP-Status-Report-Request
_UDHI = 0x40  # user data starts with a header
_VP_OCTETS = (0, 7, 1, 7)  # indexed by TP-VPF: none, enhanced, relative, absolute

_VALIDITY_24H = 167  # relative TP-VP: 12 h + (167 - 143) * 30 min
_DCS_GSM7 = 0x00
_DCS_UCS2 = 0x08
_DCS_ALPHABETS = {0: Encoding.GSM7, 2: Encoding.UCS2}  # TP-DCS alphabet bits 3-2
_TON_MASK = 0x70
_TON_INTERNATIONAL = 0x10
_MAX_PARTS = 255  # the concat UDH counts parts in one octet

_CDS_TEXT = re.compile(
    r"""^\s*(?:\+CDS:)?\s*
    (?P<fo>\d+)\s*,\s*(?P<mr>\d+)\s*,\s*
    (?:"(?P<ra>[^"]*)"|(?P<ra_bare>[^",]*?))\s*,\s*(?P<tora>\d*)\s*,\s*
    "(?P<scts>[^"]*)"\s*,\s*"(?P<dt>[^"]*)"\s*,\s*
    (?P<st>\d+)\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_TEXT_TIMESTAMP = re.compile(r"^(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d{1,2})$")


def build_submit_pdus(
    to: str, text: str, *, request_status_report: bool = True, concat_ref: int = 0
) -> list[SubmitPdu]:
    """Encode ``text`` for ``to`` as one SMS-SUBMIT per part (concat UDH when more than one)."""
    address = encode_address(to)
    split = split_message(text)
    if split.count > _MAX_PARTS:
        raise ValueError(f"text needs {split.count} parts, more than {_MAX_PARTS}")
    first = _MTI_SUBMIT | _VPF_RELATIVE
    first |= _SRR if request_status_report else 0
    first |= _UDHI if split.count > 1 else 0
    dcs = _DCS_UCS2 if split.encoding is Encoding.UCS2 else _DCS_GSM7
    pdus: list[SubmitPdu] = []
    for number, part_text in enumerate(split.parts, start=1):
        concat = [concat_element(concat_ref & 0xFF, split.count, number)] if split.count > 1 else []
        udh = encode_udh(concat)
        udl, user_data = _encode_user_data(part_text, split.encoding, udh)
        # TP-MR 0: the modem assigns the real reference and returns it in +CMGS.
        tpdu = bytes((first, 0)) + address + bytes((0x00, dcs, _VALIDITY_24H, udl)) + user_data
        pdus.append(SubmitPdu("00" + tpdu.hex().upper(), len(tpdu), number, split.count))
    return pdus


def decode_submit_pdu(hex_pdu: str) -> DecodedSubmit:
    """Decode a SUBMIT PDU (with its leading SMSC part) as written after AT+CMGS."""
    reader = PduReader(from_hex(hex_pdu))
    reader.skip_smsc()
    first = reader.octet("first octet")
    if first & _MTI_MASK != _MTI_SUBMIT:
        raise PduError(f"not an SMS-SUBMIT: TP-MTI is {first & _MTI_MASK}")
    reader.octet("TP-MR")
    to = reader.address("TP-DA").value
    reader.octet("TP-PID")
    encoding = _dcs_encoding(reader.octet("TP-DCS"))
    reader.take(_VP_OCTETS[(first >> 3) & 0x03], "TP-VP")
    udl = reader.octet("TP-UDL")
    text, concat = _decode_user_data(reader.rest(), udl, encoding, bool(first & _UDHI))
    ref, part, total = concat if concat else (None, 1, 1)
    return DecodedSubmit(to, text, bool(first & _SRR), ref, part, total)


def build_status_report_pdu(
    reference: int, recipient: str, status: int, scts: datetime, discharge: datetime
) -> str:
    """Encode an SMS-STATUS-REPORT PDU (with an empty SMSC part "00") as a modem emits it."""
    tpdu = (
        bytes((_MTI_STATUS_REPORT | _MMS_NO_MORE, check_octet(reference, "reference")))
        + encode_address(recipient)
        + encode_timestamp(scts, "scts")
        + encode_timestamp(discharge, "discharge")
        + bytes((check_octet(status, "status"),))
    )
    return "00" + tpdu.hex().upper()


def parse_status_report_pdu(hex_pdu: str) -> StatusReport:
    """Parse the PDU that follows a ``+CDS: <len>`` line (SMSC part present or "00")."""
    reader = PduReader(from_hex(hex_pdu))
    reader.skip_smsc()
    first = reader.octet("first octet")
    if first & _MTI_MASK != _MTI_STATUS_REPORT:
        raise PduError(f"not an SMS-STATUS-REPORT: TP-MTI is {first & _MTI_MASK}")
    reference = reader.octet("TP-MR")
    recipient = reader.address("TP-RA").value
    scts = decode_timestamp(reader.take(7, "TP-SCTS"))
    discharge = decode_timestamp(reader.take(7, "TP-DT"))
    status = reader.octet("TP-ST")
    # TP-PI and the optional fields it announces may follow; nothing in them is needed.
    return StatusReport(reference, recipient, status, scts, discharge)


def parse_status_report_text(line: str) -> StatusReport:
    """Parse a text-mode ``+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>`` line."""
    match = _CDS_TEXT.match(line)
    if match is None:
        raise PduError(f"not a text-mode +CDS line: {line!r}")
    first = check_octet(int(match["fo"]), "fo")
    if first & _MTI_MASK != _MTI_STATUS_REPORT:
        raise PduError(f"not a status report: <fo> {first} has TP-MTI {first & _MTI_MASK}")
    recipient = match["ra"] if match["ra"] is not None else match["ra_bare"]
    tora = match["tora"]
    international = bool(tora) and int(tora) & _TON_MASK == _TON_INTERNATIONAL
    if international and recipient and not recipient.startswith("+"):
        recipient = "+" + recipient
    return StatusReport(
        reference=check_octet(int(match["mr"]), "mr"),
        recipient=recipient,
        status=check_octet(int(match["st"]), "st"),
        scts=_parse_text_timestamp(match["scts"]),
        discharge=_parse_text_timestamp(match["dt"]),
    )


def _parse_text_timestamp(text: str) -> datetime | None:
    """A text-mode ``yy/MM/dd,hh:mm:ss±zz`` (zz in quarter hours), or None if malformed."""
    match = _TEXT_TIMESTAMP.match(text.strip())
    if match is None:
        return None
    *fields, quarters = (int(group) for group in match.groups())
    return make_timestamp(fields, quarters)


def _dcs_encoding(dcs: int) -> Encoding:
    """The alphabet a TP-DCS announces; only uncompressed GSM-7 and UCS-2 text are accepted."""
    alphabet = -1
    if dcs & 0x80 == 0 and not dcs & 0x20:  # general and automatic-deletion groups
        alphabet = (dcs >> 2) & 0x03
    elif dcs & 0xF0 == 0xF0:  # data coding / message class group: GSM-7 or 8-bit only
        alphabet = (dcs >> 2) & 0x01
    if alphabet not in _DCS_ALPHABETS:
        raise PduError(f"unsupported TP-DCS 0x{dcs:02X}: only GSM-7 and UCS-2 text")
    return _DCS_ALPHABETS[alphabet]


def _encode_user_data(text: str, encoding: Encoding, header: bytes) -> tuple[int, bytes]:
    """TP-UDL and TP-UD for one part (``header``: UDHL and elements, or b"")."""
    if encoding is Encoding.UCS2:
        payload = header + text.encode("utf-16-be")
        return len(payload), payload
    septets = encode_gsm7(text)
    offset = header_septets(len(header))
    return offset + len(septets), pack_septets(header, offset, septets)


def _decode_user_data(
    data: bytes, udl: int, encoding: Encoding, has_header: bool
) -> tuple[str, tuple[int, int, int] | None]:
    """Text and (reference, part, total) of a concat header, if any, out of TP-UD."""
    expected = udl if encoding is Encoding.UCS2 else (udl * 7 + 7) // 8
    if len(data) != expected:
        raise PduError(f"TP-UDL {udl} means {expected} octets of user data, PDU has {len(data)}")
    user_data = split_user_data(data, udl, septets=encoding is Encoding.GSM7, has_header=has_header)
    found = user_data.header.concat
    concat = (found.reference, found.part, found.total) if found else None
    if encoding is Encoding.UCS2:
        try:
            return user_data.body.decode("utf-16-be"), concat
        except UnicodeDecodeError as exc:
            raise PduError(f"UCS-2 user data is not valid UTF-16BE: {exc.reason}") from None
    return decode_gsm7(user_data.body), concat
