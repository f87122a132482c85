"""SMS-DELIVER building: what an SMSC sends a SIM. For the emulated network and the tests.

``build_deliver`` returns one hex PDU (SMSC part first, as AT+CMGR prints it) per part: GSM-7
(national shift tables on request), UCS-2 (surrogate pairs never split) or 8-bit data, with an
8- or 16-bit concatenation reference when the content needs more than one part.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from modemd.sms.alphabets import encode_septets
from modemd.sms.dcs import Alphabet, encode_dcs
from modemd.sms.deliver import MTI_DELIVER
from modemd.sms.encoding import split_by_cost, utf16_unit_cost
from modemd.sms.tpdu import (
    encode_address,
    encode_alphanumeric_address,
    encode_timestamp,
    header_septets,
    pack_septets,
)
from modemd.sms.udh import (
    IEI_LOCKING_SHIFT,
    IEI_SINGLE_SHIFT,
    InformationElement,
    concat_element,
    encode_udh,
)

__all__ = [
    "build_deliver",
]


_NO_MORE_MESSAGES = 0x04  # TP-MMS
_UDHI = 0x40
_USER_DATA_OCTETS = 140
_USER_DATA_SEPTETS = 160
_MAX_PARTS = 255


def build_deliver(
    sender: str,
    text: str | None = None,
    *,
    scts: datetime,
    data: bytes | None = None,
    smsc: str | None = None,
    alphabet: Alphabet | None = None,
    message_class: int | None = None,
    concat_ref: int = 0,
    reference_bits: int = 8,
    locking_shift: int = 0,
    single_shift: int = 0,
    pid: int = 0,
    more_messages: bool = False,
) -> list[str]:
    """The SMS-DELIVER PDUs (hex) that carry ``text`` (or 8-bit ``data``) from ``sender``.

    ``sender``: "+<digits>" international, other digits (type unknown), else a sender name.
    ``alphabet`` None picks GSM-7 when the text fits the (shift) tables, else UCS-2.
    """
    if (text is None) == (data is None):
        raise ValueError("give either text or data")
    if reference_bits not in (8, 16):
        raise ValueError("reference_bits must be 8 or 16")
    if alphabet is Alphabet.DATA and data is None:
        raise ValueError("the 8-bit alphabet carries data, not text")
    if data is not None:
        alphabet = Alphabet.DATA
    elif alphabet is None:
        alphabet = (
            Alphabet.GSM7 if _fits_gsm7(text or "", locking_shift, single_shift) else Alphabet.UCS2
        )
    shifts = _shift_elements(locking_shift, single_shift) if alphabet is Alphabet.GSM7 else []
    encode = _encoder(alphabet, locking_shift, single_shift)
    content: str | bytes = data if data is not None else (text or "")
    chunks = _split(content, alphabet, encode, shifts, reference_bits)
    first = MTI_DELIVER | (0 if more_messages else _NO_MORE_MESSAGES)
    smsc_part = _smsc_part(smsc)
    middle = (  # TP-OA, TP-PID, TP-DCS, TP-SCTS: the same in every part
        _sender_field(sender)
        + bytes((pid, encode_dcs(alphabet, message_class)))
        + encode_timestamp(scts, "scts")
    )
    pdus: list[str] = []
    for number, chunk in enumerate(chunks, start=1):
        elements = list(shifts)
        if len(chunks) > 1:
            elements.append(concat_element(concat_ref, len(chunks), number, reference_bits))
        header = encode_udh(elements)
        udl, user_data = _user_data(encode(chunk), alphabet, header)
        octet = first | (_UDHI if header else 0)
        pdu = smsc_part + bytes((octet,)) + middle + bytes((udl,)) + user_data
        pdus.append(pdu.hex().upper())
    return pdus


def _fits_gsm7(text: str, locking: int, single: int) -> bool:
    try:
        encode_septets(text, locking, single)
    except ValueError:
        return False
    return True


def _shift_elements(locking: int, single: int) -> list[InformationElement]:
    elements = []
    if locking:
        elements.append(InformationElement(IEI_LOCKING_SHIFT, bytes((locking,))))
    if single:
        elements.append(InformationElement(IEI_SINGLE_SHIFT, bytes((single,))))
    return elements


def _encoder(alphabet: Alphabet, locking: int, single: int) -> Callable[[str | bytes], bytes]:
    """Chunk -> septet values (GSM-7) or octets (UCS-2, 8-bit data)."""

    def encode(chunk: str | bytes) -> bytes:
        if isinstance(chunk, bytes):
            return chunk
        if alphabet is Alphabet.UCS2:
            return chunk.encode("utf-16-be")
        return encode_septets(chunk, locking, single)

    return encode


def _split(
    content: str | bytes,
    alphabet: Alphabet,
    encode: Callable[[str | bytes], bytes],
    shifts: list[InformationElement],
    reference_bits: int,
) -> list[str | bytes]:
    """Cut ``content`` into the fewest parts that fit beside their headers."""
    single = _capacity(alphabet, len(encode_udh(shifts)))
    concat = concat_element(0, 1, 1, reference_bits)
    per_part = _capacity(alphabet, len(encode_udh([*shifts, concat])))
    if isinstance(content, bytes):
        size = single if len(content) <= single else per_part
        chunks = [content[start : start + size] for start in range(0, len(content), size)]
        result: list[str | bytes] = list(chunks) or [b""]
    else:
        cost = utf16_unit_cost if alphabet is Alphabet.UCS2 else (lambda char: len(encode(char)))
        units = 2 if alphabet is Alphabet.UCS2 else 1  # capacity is in octets for UCS-2
        result = list(split_by_cost(content, cost, single // units, per_part // units))
    if len(result) > _MAX_PARTS:
        raise ValueError(f"content needs {len(result)} parts, more than {_MAX_PARTS}")
    return result


def _capacity(alphabet: Alphabet, header_octets: int) -> int:
    """Septets (GSM-7) or octets (UCS-2, 8-bit) left beside a header of that many octets."""
    if alphabet is Alphabet.GSM7:
        return _USER_DATA_SEPTETS - header_septets(header_octets)
    return _USER_DATA_OCTETS - header_octets


def _user_data(body: bytes, alphabet: Alphabet, header: bytes) -> tuple[int, bytes]:
    """TP-UDL and TP-UD: UDL counts septets for GSM-7 (fill bits included), octets otherwise."""
    if alphabet is Alphabet.GSM7:
        offset = header_septets(len(header))
        return offset + len(body), pack_septets(header, offset, body)
    return len(header) + len(body), header + body


def _smsc_part(smsc: str | None) -> bytes:
    if smsc is None:
        return b"\x00"
    field = encode_address(smsc)  # digit count, TOA, digits: the SMSC part counts octets instead
    return bytes((len(field) - 1,)) + field[1:]


def _sender_field(sender: str) -> bytes:
    digits = sender[1:] if sender.startswith("+") else sender
    if digits.isascii() and digits.isdigit():
        return encode_address(sender)
    return encode_alphanumeric_address(sender)
