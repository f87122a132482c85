"""SMS PDUs (3GPP TS 23.040): SMS-SUBMIT build/parse, SMS-STATUS-REPORT build/parse.

The only module of modemd allowed to import python-gsmmodem-new, and it does not need to: its
GSM-7 tables are wrong in places (0x5F is "`" not "§", form feed missing), its UCS-2 encoder fails
on non-BMP text, its SUBMIT encoder splits on its own and uses TP-MR as the concat reference, and
it has no status-report encoder. The tests cross-check this module against it where it is right.
Hex strings are upper-case, without spaces. Malformed input raises ValueError naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from modemd.sms.encoding import Encoding, decode_gsm7, encode_gsm7, split_message


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
_TOA_INTERNATIONAL = 0x91
_TOA_UNKNOWN = 0x81
_TON_MASK = 0x70
_TON_INTERNATIONAL = 0x10
_IEI_CONCAT_8BIT = 0x00
_IEI_CONCAT_16BIT = 0x08
_MAX_ADDRESS_DIGITS = 20  # 10 octets of semi-octets (23.040 9.1.2.5)
_MAX_PARTS = 255  # the concat UDH counts parts in one octet
_SEMI_OCTET_DIGITS = "0123456789*#abc"  # 23.040 9.1.2.3 nibble values 0x0-0xE; 0xF is filler
_TZ_NEGATIVE = 0x08  # sign bit of the time-zone octet (bit 3)
_MAX_TZ_QUARTERS = 79  # 3 bits of tens + one BCD digit

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
    address = _encode_address(to)
    split = split_message(text)
    if split.count > _MAX_PARTS:
        raise ValueError(f"text needs {split.count} parts, more than {_MAX_PARTS}")
    first = _MTI_SUBMIT | _VPF_RELATIVE
    first |= _SRR if request_status_report else 0
    first |= _UDHI if split.count > 1 else 0
    dcs = _DCS_UCS2 if split.encoding is Encoding.UCS2 else _DCS_GSM7
    pdus: list[SubmitPdu] = []
    for number, part_text in enumerate(split.parts, start=1):
        udh = _concat_udh(concat_ref & 0xFF, split.count, number) if split.count > 1 else b""
        udl, user_data = _encode_user_data(part_text, split.encoding, udh)
        # TP-MR 0: the modem assigns the real reference and returns it in +CMGS.
        tpdu = bytes((first, 0)) + address + bytes((0x00, dcs, _VALIDITY_24H, udl)) + user_data
        pdus.append(SubmitPdu("00" + tpdu.hex().upper(), len(tpdu), number, split.count))
    return pdus


def decode_submit_pdu(hex_pdu: str) -> DecodedSubmit:
    """Decode a SUBMIT PDU (with its leading SMSC part) as written after AT+CMGS."""
    reader = _Reader(_from_hex(hex_pdu))
    reader.skip_smsc()
    first = reader.octet("first octet")
    if first & _MTI_MASK != _MTI_SUBMIT:
        raise ValueError(f"not an SMS-SUBMIT: TP-MTI is {first & _MTI_MASK}")
    reader.octet("TP-MR")
    to = _decode_address(reader, "TP-DA")
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
        bytes((_MTI_STATUS_REPORT | _MMS_NO_MORE, _check_octet(reference, "reference")))
        + _encode_address(recipient)
        + _encode_timestamp(scts, "scts")
        + _encode_timestamp(discharge, "discharge")
        + bytes((_check_octet(status, "status"),))
    )
    return "00" + tpdu.hex().upper()


def parse_status_report_pdu(hex_pdu: str) -> StatusReport:
    """Parse the PDU that follows a ``+CDS: <len>`` line (SMSC part present or "00")."""
    reader = _Reader(_from_hex(hex_pdu))
    reader.skip_smsc()
    first = reader.octet("first octet")
    if first & _MTI_MASK != _MTI_STATUS_REPORT:
        raise ValueError(f"not an SMS-STATUS-REPORT: TP-MTI is {first & _MTI_MASK}")
    reference = reader.octet("TP-MR")
    recipient = _decode_address(reader, "TP-RA")
    scts = _decode_timestamp(reader.take(7, "TP-SCTS"))
    discharge = _decode_timestamp(reader.take(7, "TP-DT"))
    status = reader.octet("TP-ST")
    # TP-PI and the optional fields it announces may follow; nothing in them is needed.
    return StatusReport(reference, recipient, status, scts, discharge)


def parse_status_report_text(line: str) -> StatusReport:
    """Parse a text-mode ``+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>`` line."""
    match = _CDS_TEXT.match(line)
    if match is None:
        raise ValueError(f"not a text-mode +CDS line: {line!r}")
    first = _check_octet(int(match["fo"]), "fo")
    if first & _MTI_MASK != _MTI_STATUS_REPORT:
        raise ValueError(f"not a status report: <fo> {first} has TP-MTI {first & _MTI_MASK}")
    recipient = match["ra"] if match["ra"] is not None else match["ra_bare"]
    tora = match["tora"]
    international = bool(tora) and int(tora) & _TON_MASK == _TON_INTERNATIONAL
    if international and recipient and not recipient.startswith("+"):
        recipient = "+" + recipient
    return StatusReport(
        reference=_check_octet(int(match["mr"]), "mr"),
        recipient=recipient,
        status=_check_octet(int(match["st"]), "st"),
        scts=_parse_text_timestamp(match["scts"]),
        discharge=_parse_text_timestamp(match["dt"]),
    )


class _Reader:
    """Cursor over PDU octets; running out raises ValueError naming the field."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, count: int, field: str) -> bytes:
        """Return the next ``count`` octets."""
        end = self._pos + count
        if end > len(self._data):
            available = len(self._data) - self._pos
            raise ValueError(f"PDU truncated in {field}: needs {count} octets, {available} left")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def octet(self, field: str) -> int:
        """Return the next octet."""
        return self.take(1, field)[0]

    def rest(self) -> bytes:
        """Return all remaining octets."""
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk

    def skip_smsc(self) -> None:
        """Skip the SMSC part: a length octet then that many octets (TOA and digits)."""
        self.take(self.octet("SMSC length"), "SMSC address")


def _from_hex(hex_pdu: str) -> bytes:
    """Hex text (spaces and line ends ignored) to bytes, or ValueError."""
    compact = "".join(hex_pdu.split())
    if not compact:
        raise ValueError("empty PDU")
    try:
        return bytes.fromhex(compact)
    except ValueError:
        raise ValueError(f"PDU is not an even number of hex digits: {hex_pdu[:40]!r}") from None


def _check_octet(value: int, field: str) -> int:
    """Return ``value`` if it fits in one octet, else raise ValueError."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{field} must be 0..255, got {value}")
    return value


def _encode_address(number: str) -> bytes:
    """A phone number as a TP-DA/TP-RA field: digit count, type of address, semi-octets."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_ADDRESS_DIGITS:
        raise ValueError(f"not a phone number (optional '+', 1-20 digits): {number!r}")
    toa = _TOA_INTERNATIONAL if international else _TOA_UNKNOWN
    return bytes((len(digits), toa)) + _encode_semi_octets(digits)


def _decode_address(reader: _Reader, field: str) -> str:
    """Read an address field; "+" prefixed when the type of number is international."""
    length = reader.octet(f"{field} length")
    toa = reader.octet(f"{field} type of address")
    digits = _decode_semi_octets(reader.take((length + 1) // 2, field), length)
    return ("+" if toa & _TON_MASK == _TON_INTERNATIONAL else "") + digits


def _encode_semi_octets(digits: str) -> bytes:
    """Swapped-nibble BCD, first digit in the low nibble, odd count padded with 0xF."""
    nibbles = [_SEMI_OCTET_DIGITS.index(digit) for digit in digits]
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return bytes(low | high << 4 for low, high in zip(nibbles[::2], nibbles[1::2], strict=True))


def _decode_semi_octets(data: bytes, count: int) -> str:
    """First ``count`` semi-octets as digits (A-E map to * # a b c; filler F is dropped)."""
    nibbles = [nibble for octet in data for nibble in (octet & 0x0F, octet >> 4)][:count]
    return "".join(_SEMI_OCTET_DIGITS[nibble] for nibble in nibbles if nibble != 0xF)


def _encode_timestamp(moment: datetime, field: str) -> bytes:
    """A timezone-aware datetime as a 7-octet TP-SCTS/TP-DT (to the second)."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{field} must be timezone-aware")
    quarters, remainder = divmod(int(offset.total_seconds()), 15 * 60)
    if remainder or abs(quarters) > _MAX_TZ_QUARTERS:
        raise ValueError(f"{field} UTC offset {offset} is not a whole quarter hour within ±19:45")
    if not 2000 <= moment.year <= 2099:
        raise ValueError(f"{field} year {moment.year} does not fit two digits after 2000")
    size = abs(quarters)
    sign = _TZ_NEGATIVE if quarters < 0 else 0
    zone = (size // 10) | sign | (size % 10) << 4
    return _encode_semi_octets(moment.strftime("%y%m%d%H%M%S")) + bytes((zone,))


def _decode_timestamp(data: bytes) -> datetime | None:
    """A 7-octet timestamp, or None when it holds no valid date (seen from real SMSCs)."""
    fields: list[int] = []
    for octet in data[:6]:
        tens, units = octet & 0x0F, octet >> 4
        if tens > 9 or units > 9:
            return None
        fields.append(tens * 10 + units)
    zone = data[6]
    if zone >> 4 > 9:
        return None
    quarters = (zone & 0x07) * 10 + (zone >> 4)
    return _make_timestamp(fields, -quarters if zone & _TZ_NEGATIVE else quarters)


def _parse_text_timestamp(text: str) -> datetime | None:
    """A text-mode ``yy/MM/dd,hh:mm:ss±zz`` (zz in quarter hours), or None if malformed."""
    match = _TEXT_TIMESTAMP.match(text.strip())
    if match is None:
        return None
    *fields, quarters = (int(group) for group in match.groups())
    return _make_timestamp(fields, quarters)


def _make_timestamp(fields: list[int], quarters: int) -> datetime | None:
    """Build from [yy, MM, dd, hh, mm, ss] and a quarter-hour offset; None if impossible."""
    year, month, day, hour, minute, second = fields
    try:
        zone = timezone(timedelta(minutes=15 * quarters))
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None


def _dcs_encoding(dcs: int) -> Encoding:
    """The alphabet a TP-DCS announces; only uncompressed GSM-7 and UCS-2 text are accepted."""
    alphabet = -1
    if dcs & 0x80 == 0 and not dcs & 0x20:  # general and automatic-deletion groups
        alphabet = (dcs >> 2) & 0x03
    elif dcs & 0xF0 == 0xF0:  # data coding / message class group: GSM-7 or 8-bit only
        alphabet = (dcs >> 2) & 0x01
    if alphabet not in _DCS_ALPHABETS:
        raise ValueError(f"unsupported TP-DCS 0x{dcs:02X}: only GSM-7 and UCS-2 text")
    return _DCS_ALPHABETS[alphabet]


def _concat_udh(reference: int, total: int, number: int) -> bytes:
    """The concatenation information element with an 8-bit reference."""
    return bytes((_IEI_CONCAT_8BIT, 3, reference, total, number))


def _encode_user_data(text: str, encoding: Encoding, udh: bytes) -> tuple[int, bytes]:
    """TP-UDL and TP-UD for one part; UDL counts septets for GSM-7, octets for UCS-2."""
    header = bytes((len(udh),)) + udh if udh else b""
    if encoding is Encoding.UCS2:
        payload = header + text.encode("utf-16-be")
        return len(payload), payload
    septets = encode_gsm7(text)
    offset = _header_septets(len(header))
    return offset + len(septets), _pack_septets(header, offset, septets)


def _decode_user_data(
    data: bytes, udl: int, encoding: Encoding, has_header: bool
) -> tuple[str, tuple[int, int, int] | None]:
    """Text and (reference, part, total) of a concat header, if any, out of TP-UD."""
    expected = udl if encoding is Encoding.UCS2 else (udl * 7 + 7) // 8
    if len(data) != expected:
        raise ValueError(f"TP-UDL {udl} means {expected} octets of user data, PDU has {len(data)}")
    header = b""
    if has_header:
        header = data[: 1 + data[0]] if data else b""
        if not header or len(header) != 1 + header[0]:
            raise ValueError("user data header is longer than the user data")
    concat = _find_concat(header[1:])
    if encoding is Encoding.UCS2:
        try:
            return data[len(header) :].decode("utf-16-be"), concat
        except UnicodeDecodeError as exc:
            raise ValueError(f"UCS-2 user data is not valid UTF-16BE: {exc.reason}") from None
    offset = _header_septets(len(header))
    if offset > udl:
        raise ValueError(f"TP-UDL {udl} septets is shorter than the {offset}-septet header")
    return decode_gsm7(_unpack_septets(data, udl)[offset:]), concat


def _find_concat(elements: bytes) -> tuple[int, int, int] | None:
    """(reference, part, total) from a UDH's information elements, None if none is there."""
    concat = None
    pos = 0
    while pos < len(elements):
        if pos + 2 > len(elements) or pos + 2 + elements[pos + 1] > len(elements):
            raise ValueError("truncated information element in the user data header")
        iei, data = elements[pos], elements[pos + 2 : pos + 2 + elements[pos + 1]]
        if iei == _IEI_CONCAT_8BIT and len(data) == 3:
            concat = (data[0], data[2], data[1])
        elif iei == _IEI_CONCAT_16BIT and len(data) == 4:
            concat = (data[0] << 8 | data[1], data[3], data[2])
        pos += 2 + len(data)
    if concat and not 1 <= concat[1] <= concat[2]:
        raise ValueError(f"concatenation part {concat[1]} of {concat[2]} is out of range")
    return concat


def _header_septets(header_octets: int) -> int:
    """Septets a UDH of that many octets occupies, fill bits included."""
    return (header_octets * 8 + 6) // 7


def _pack_septets(header: bytes, offset: int, septets: bytes) -> bytes:
    """Pack septets LSB first after ``header``, starting at septet ``offset`` (23.038 6.1.2.1)."""
    bits = int.from_bytes(header, "little")
    for index, septet in enumerate(septets):
        bits |= septet << (7 * (offset + index))
    return bits.to_bytes((7 * (offset + len(septets)) + 7) // 8, "little")


def _unpack_septets(data: bytes, count: int) -> bytes:
    """The first ``count`` septets of packed ``data``, header septets included."""
    bits = int.from_bytes(data, "little")
    return bytes((bits >> (7 * index)) & 0x7F for index in range(count))
