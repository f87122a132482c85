"""TPDU fields every SMS PDU kind shares (3GPP TS 23.040 9.1.2, 9.2.3.11; TS 23.038 6.1.2.1).

Pure functions over bytes: an octet cursor, addresses (semi-octets or alphanumeric), service
centre time stamps and septet packing. Malformed input raises PduError naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from modemd.errors import PduError
from modemd.sms.alphabets import decode_septets
from modemd.sms.encoding import encode_gsm7

TON_UNKNOWN = 0
TON_INTERNATIONAL = 1  # the digits are an E.164 number: shown with a leading "+"
TON_ALPHANUMERIC = 5  # GSM-7 text packed in the address field (a sender name)
NPI_ISDN = 1  # E.164 numbering plan
NPI_UNKNOWN = 0

MAX_ADDRESS_DIGITS = 20  # 10 octets of semi-octets (23.040 9.1.2.5)
MAX_ALPHANUMERIC_CHARS = 11  # 11 septets fit the 10 address octets
SEMI_OCTET_DIGITS = "0123456789*#abc"  # 23.040 9.1.2.3 nibble values 0x0-0xE; 0xF is filler
_TOA_EXTENSION = 0x80  # bit 7 of a type-of-address octet is always 1
_TZ_NEGATIVE = 0x08  # sign bit of the time-zone octet (bit 3)
_MAX_TZ_QUARTERS = 79  # 3 bits of tens + one BCD digit
_MAX_SMSC_OCTETS = 11  # type of address + 10 octets of digits
_NIBBLES_SWAPPED = bytes((octet & 0x0F) << 4 | octet >> 4 for octet in range(256))
_HEX_TO_DIGIT = str.maketrans(
    dict(zip("0123456789abcdef", [*SEMI_OCTET_DIGITS, None], strict=True))
)
_DIGIT_TO_HEX = str.maketrans(SEMI_OCTET_DIGITS, "0123456789abcde")
_SEMI_OCTETS = re.compile("[0-9*#abc]*")


@dataclass(frozen=True, slots=True)
class Address:
    """An originating, destination, recipient or SMSC address."""

    value: str  # "+<digits>" when international, other digits as given, or the sender's name
    ton: int  # type of number 0..7 (23.040 9.1.2.5): 1 international, 5 alphanumeric
    npi: int  # numbering plan 0..15: 1 ISDN/E.164

    @property
    def alphanumeric(self) -> bool:
        return self.ton == TON_ALPHANUMERIC

    @property
    def type_of_address(self) -> int:
        """The raw type-of-address octet."""
        return _TOA_EXTENSION | self.ton << 4 | self.npi


class PduReader:
    """Cursor over PDU octets; running out raises PduError naming the field."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, count: int, field: str) -> bytes:
        """Return the next ``count`` octets."""
        end = self._pos + count
        if end > len(self._data):
            available = len(self._data) - self._pos
            raise PduError(f"PDU truncated in {field}: needs {count} octets, {available} left")
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

    def smsc(self) -> Address | None:
        """Read the SMSC part; None when its length is 0 (the SIM's default SMSC)."""
        length = self.octet("SMSC length")
        if length == 0:
            return None
        if length > _MAX_SMSC_OCTETS:
            raise PduError(f"SMSC length {length} is over {_MAX_SMSC_OCTETS} octets")
        toa = self.octet("SMSC type of address")
        data = self.take(length - 1, "SMSC address")
        return _address_value(toa, data, 2 * len(data))

    def address(self, field: str) -> Address:
        """Read a TP-OA/TP-DA/TP-RA field: digit count, type of address, semi-octets."""
        length = self.octet(f"{field} length")
        if length > MAX_ADDRESS_DIGITS:
            raise PduError(f"{field} length {length} is over {MAX_ADDRESS_DIGITS} semi-octets")
        toa = self.octet(f"{field} type of address")
        return _address_value(toa, self.take((length + 1) // 2, field), length)


def from_hex(hex_pdu: str) -> bytes:
    """Hex text (spaces and line ends ignored) to bytes, or PduError."""
    compact = "".join(hex_pdu.split())
    if not compact:
        raise PduError("empty PDU")
    try:
        return bytes.fromhex(compact)
    except ValueError:
        raise PduError(f"PDU is not an even number of hex digits: {hex_pdu[:40]!r}") from None


def check_octet(value: int, field: str) -> int:
    """Return ``value`` if it fits in one octet, else raise ValueError."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{field} must be 0..255, got {value}")
    return value


def encode_address(number: str) -> bytes:
    """A phone number as a TP-DA/TP-OA/TP-RA field: digit count, type of address, semi-octets."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_ADDRESS_DIGITS:
        raise ValueError(f"not a phone number (optional '+', 1-20 digits): {number!r}")
    address = Address(number, TON_INTERNATIONAL if international else TON_UNKNOWN, NPI_ISDN)
    return bytes((len(digits), address.type_of_address)) + encode_semi_octets(digits)


def encode_alphanumeric_address(name: str) -> bytes:
    """A sender name (GSM-7, up to 11 septets) as a TP-OA field."""
    septets = encode_gsm7(name)
    if not septets or len(septets) > MAX_ALPHANUMERIC_CHARS:
        raise ValueError(f"an alphanumeric address is 1-11 GSM-7 septets: {name!r}")
    packed = pack_septets(b"", 0, septets)
    semi_octets = (len(septets) * 7 + 3) // 4  # useful semi-octets (23.040 9.1.2.5)
    toa = Address(name, TON_ALPHANUMERIC, NPI_UNKNOWN).type_of_address
    return bytes((semi_octets, toa)) + packed


def encode_semi_octets(digits: str) -> bytes:
    """Swapped-nibble BCD, first digit in the low nibble, odd count padded with 0xF."""
    if _SEMI_OCTETS.fullmatch(digits) is None:
        raise ValueError(f"{digits!r} holds a character that is no semi-octet digit")
    high_first = digits.translate(_DIGIT_TO_HEX) + "f" * (len(digits) % 2)
    return bytes.fromhex(high_first).translate(_NIBBLES_SWAPPED)


def decode_semi_octets(data: bytes, count: int) -> str:
    """First ``count`` semi-octets as digits (A-E map to * # a b c; filler F is dropped)."""
    low_first = data[: (count + 1) // 2].translate(_NIBBLES_SWAPPED).hex()
    return low_first[:count].translate(_HEX_TO_DIGIT)


def encode_timestamp(moment: datetime, field: str) -> bytes:
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
    return encode_semi_octets(moment.strftime("%y%m%d%H%M%S")) + bytes((zone,))


def decode_timestamp(data: bytes) -> datetime | None:
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
    return make_timestamp(fields, -quarters if zone & _TZ_NEGATIVE else quarters)


def make_timestamp(fields: list[int], quarters: int) -> datetime | None:
    """Build from [yy, MM, dd, hh, mm, ss] and a quarter-hour offset; None if impossible."""
    year, month, day, hour, minute, second = fields
    try:
        zone = timezone(timedelta(minutes=15 * quarters))
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None


def header_septets(header_octets: int) -> int:
    """Septets a UDH of that many octets occupies, fill bits included."""
    return (header_octets * 8 + 6) // 7


def pack_septets(header: bytes, offset: int, septets: bytes) -> bytes:
    """Pack septets LSB first after ``header``, starting at septet ``offset`` (23.038 6.1.2.1)."""
    bits = int.from_bytes(header, "little")
    for index, septet in enumerate(septets):
        bits |= septet << (7 * (offset + index))
    return bits.to_bytes((7 * (offset + len(septets)) + 7) // 8, "little")


def unpack_septets(data: bytes, count: int) -> bytes:
    """The first ``count`` septets of packed ``data``, header septets included (0 past the end)."""
    bits = int.from_bytes(data[: (7 * count + 7) // 8], "little")
    return bytes([(bits >> shift) & 0x7F for shift in range(0, 7 * count, 7)])


def _address_value(toa: int, data: bytes, semi_octets: int) -> Address:
    """Digits or alphanumeric text of an address whose type of address is ``toa``."""
    ton, npi = (toa >> 4) & 0x07, toa & 0x0F
    if ton == TON_ALPHANUMERIC:
        text = decode_septets(unpack_septets(data, semi_octets * 4 // 7)).text
        return Address(text, ton, npi)
    digits = decode_semi_octets(data, semi_octets)
    return Address(("+" if ton == TON_INTERNATIONAL else "") + digits, ton, npi)
