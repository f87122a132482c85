"""The user data header (3GPP TS 23.040 9.2.3.24): information elements, concatenation, shifts.

A header that lies about its length, a concatenation element of the wrong size, a part number of
0 or above the total raise PduError. Elements modemd does not use are kept as they came.
"""

from __future__ import annotations

from dataclasses import dataclass

from modemd.errors import PduError
from modemd.sms.tpdu import header_septets, unpack_septets

IEI_CONCAT_8BIT = 0x00  # 23.040 9.2.3.24.1: reference, total, part (1 octet each)
IEI_CONCAT_16BIT = 0x08  # 23.040 9.2.3.24.8: 2-octet reference, total, part
IEI_SINGLE_SHIFT = 0x24  # 23.040 9.2.3.24.15: national language single shift table id
IEI_LOCKING_SHIFT = 0x25  # 23.040 9.2.3.24.16: national language locking shift table id
_SIZES = {IEI_CONCAT_8BIT: 3, IEI_CONCAT_16BIT: 4, IEI_SINGLE_SHIFT: 1, IEI_LOCKING_SHIFT: 1}


@dataclass(frozen=True, slots=True)
class InformationElement:
    iei: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message."""

    reference: int  # the same in every part of one message: 0..255 or 0..65535
    total: int  # parts in the message, 1..255
    part: int  # this part's number, 1..total
    reference_bits: int  # 8 (IEI 0x00) or 16 (IEI 0x08)


@dataclass(frozen=True, slots=True)
class UserDataHeader:
    elements: tuple[InformationElement, ...]  # in the order received
    concat: Concat | None  # the last concatenation element (23.040: the last one counts)
    single_shift: int  # national language id for the escape table, 0 = default
    locking_shift: int  # national language id for the main table, 0 = default


NO_HEADER = UserDataHeader((), None, 0, 0)


@dataclass(frozen=True, slots=True)
class UserData:
    header: UserDataHeader
    body: bytes  # after the header: septet values (GSM-7) or octets (8-bit, UCS-2)
    fill_bits: int  # GSM-7: padding bits between the header and the first septet


def split_user_data(user_data: bytes, udl: int, *, septets: bool, has_header: bool) -> UserData:
    """Header and body of TP-UD holding TP-UDL's worth of octets (septets when ``septets``)."""
    header, header_octets = NO_HEADER, 0
    if has_header:
        if not user_data:
            raise PduError("TP-UDHI is set but the user data is empty")
        header_octets = 1 + user_data[0]
        if header_octets > len(user_data):
            raise PduError("user data header is longer than the user data")
        header = parse_udh(user_data[1:header_octets])
    if not septets:
        return UserData(header, user_data[header_octets:], 0)
    offset = header_septets(header_octets)
    if offset > udl:
        raise PduError(f"TP-UDL {udl} septets is shorter than the {offset}-septet header")
    body = unpack_septets(user_data, udl)[offset:]
    return UserData(header, body, offset * 7 - header_octets * 8)


def parse_udh(elements: bytes) -> UserDataHeader:
    """Parse the information elements that follow the UDHL octet."""
    found: list[InformationElement] = []
    pos = 0
    while pos < len(elements):
        if pos + 2 > len(elements) or pos + 2 + elements[pos + 1] > len(elements):
            raise PduError("truncated information element in the user data header")
        iei, size = elements[pos], elements[pos + 1]
        if _SIZES.get(iei, size) != size:
            raise PduError(f"information element 0x{iei:02X} has {size} octets, not {_SIZES[iei]}")
        found.append(InformationElement(iei, elements[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    concat = None
    single = locking = 0
    for element in found:
        data = element.data
        if element.iei == IEI_CONCAT_8BIT:
            concat = Concat(data[0], data[1], data[2], 8)
        elif element.iei == IEI_CONCAT_16BIT:
            concat = Concat(data[0] << 8 | data[1], data[2], data[3], 16)
        elif element.iei == IEI_SINGLE_SHIFT:
            single = data[0]
        elif element.iei == IEI_LOCKING_SHIFT:
            locking = data[0]
    if concat and not 1 <= concat.part <= concat.total:
        raise PduError(f"concatenation part {concat.part} of {concat.total} is out of range")
    return UserDataHeader(tuple(found), concat, single, locking)


def encode_udh(elements: list[InformationElement]) -> bytes:
    """UDHL and the elements; b"" when there are none."""
    body = b"".join(bytes((element.iei, len(element.data))) + element.data for element in elements)
    return bytes((len(body),)) + body if body else b""


def concat_element(
    reference: int, total: int, part: int, reference_bits: int = 8
) -> InformationElement:
    """The concatenation element for one part (8- or 16-bit reference)."""
    if reference_bits == 16:
        return InformationElement(
            IEI_CONCAT_16BIT, bytes((reference >> 8, reference & 0xFF, total, part))
        )
    return InformationElement(IEI_CONCAT_8BIT, bytes((reference & 0xFF, total, part)))
