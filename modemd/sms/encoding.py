"""GSM-7 / UCS-2 choice and multipart splitting (3GPP TS 23.038, 23.040).

Pure functions; no I/O. GSM-7: 160 septets single, 153 per part (8-bit concat reference UDH);
extension-table characters cost two septets and are never split from their escape.
UCS-2: 70 UTF-16 units single, 67 per part; a surrogate pair is never split across parts.

The GSM-7 tables live here (not in python-gsmmodem-new, whose copy has 0x5F as "`" instead of
"§" and lacks form feed in the extension table) so that splitting and PDU encoding agree.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Callable
from dataclasses import dataclass


class Encoding(enum.StrEnum):
    GSM7 = "gsm7"  # 23.038 default alphabet (+ extension table)
    UCS2 = "ucs2"  # UTF-16BE, anything outside the GSM alphabet forces it for the whole message


@dataclass(frozen=True, slots=True)
class SplitMessage:
    encoding: Encoding
    parts: tuple[str, ...]  # the text of each part, in order; joined they equal the input

    @property
    def count(self) -> int:
        return len(self.parts)


GSM7_ESCAPE = 0x1B  # switches the next septet to the extension table

# 23.038 6.2.1 default alphabet, indexed by septet value. 0x1B is the escape, not a character.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# 23.038 6.2.1.1 extension table: character -> septet sent after GSM7_ESCAPE.
GSM7_EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

GSM7_SINGLE_SEPTETS = 160  # 140 octets * 8 / 7
GSM7_PART_SEPTETS = 153  # 160 minus the 7 septets taken by the 6-octet concat UDH (+1 fill bit)
UCS2_SINGLE_UNITS = 70  # 140 octets / 2
UCS2_PART_UNITS = 67  # (140 - 6 octets of UDH) / 2

_BASIC_CODES: dict[str, int] = {
    char: code for code, char in enumerate(GSM7_BASIC) if code != GSM7_ESCAPE
}
_EXTENSION_CHARS: dict[int, str] = {code: char for char, code in GSM7_EXTENSION.items()}
# The tables as charmap codecs (C loops). Encoding: a character -> its septet, or the escape
# and its extension code. Decoding (the basic table only): the escape decodes to nothing
# ("\ufffe" is charmap's "undefined"), a text with escapes takes the loop.
_CHARMAP_ENCODING: dict[int, int | bytes] = {ord(c): code for c, code in _BASIC_CODES.items()}
_CHARMAP_ENCODING |= {ord(c): bytes((GSM7_ESCAPE, code)) for c, code in GSM7_EXTENSION.items()}
_CHARMAP_DECODING = GSM7_BASIC.replace(chr(GSM7_ESCAPE), "\ufffe")


_GSM7_CHARS = frozenset(_BASIC_CODES) | frozenset(GSM7_EXTENSION)


def split_message(text: str) -> SplitMessage:
    """Choose the encoding for ``text`` and split it into SMS parts."""
    if is_gsm7(text):
        # one part (most texts): counted with str methods, not a function call per character;
        # up to half a part's septets, even a text of extension characters only fits
        if len(text) <= GSM7_SINGLE_SEPTETS // 2 or (
            len(text) + sum(map(text.count, GSM7_EXTENSION)) <= GSM7_SINGLE_SEPTETS
        ):
            return SplitMessage(Encoding.GSM7, (text,))
        parts = split_by_cost(text, gsm7_septet_cost, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS)
        return SplitMessage(Encoding.GSM7, parts)
    if len(text.encode("utf-16-le", "surrogatepass")) // 2 <= UCS2_SINGLE_UNITS:
        return SplitMessage(Encoding.UCS2, (text,))
    parts = split_by_cost(text, utf16_unit_cost, UCS2_SINGLE_UNITS, UCS2_PART_UNITS)
    return SplitMessage(Encoding.UCS2, parts)


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 default or extension table."""
    return _GSM7_CHARS.issuperset(text)


def gsm7_septet_cost(char: str) -> int:
    """Septets ``char`` takes in GSM-7: 1, or 2 for an extension-table character."""
    return 2 if char in GSM7_EXTENSION else 1


def utf16_unit_cost(char: str) -> int:
    """UTF-16 code units ``char`` takes: 1 in the BMP, 2 (a surrogate pair) above it."""
    return 2 if ord(char) > 0xFFFF else 1


def encode_gsm7(text: str) -> bytes:
    """Map ``text`` to unpacked GSM-7 septet values (escape + code for extension characters)."""
    try:
        return codecs.charmap_encode(text, "strict", _CHARMAP_ENCODING)[0]
    except UnicodeEncodeError as error:
        char = text[error.start]
        raise ValueError(f"character {char!r} is not in the GSM-7 alphabet") from None


def decode_gsm7(septets: bytes) -> str:
    """Map unpacked GSM-7 septet values back to text (inverse of :func:`encode_gsm7`)."""
    if GSM7_ESCAPE not in septets:
        try:
            return codecs.charmap_decode(septets, "strict", _CHARMAP_DECODING)[0]
        except UnicodeDecodeError as error:
            raise ValueError(f"0x{septets[error.start]:02X} is not a septet") from None
    chars: list[str] = []
    escaped = False
    for septet in septets:
        if septet > 0x7F:
            raise ValueError(f"0x{septet:02X} is not a septet")
        if escaped:
            # 23.038 6.2.1.1: an unknown extension code shows the default-alphabet character.
            chars.append(_EXTENSION_CHARS.get(septet, GSM7_BASIC[septet]))
            escaped = False
        elif septet == GSM7_ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC[septet])
    if escaped:
        raise ValueError("GSM-7 text ends with a lone escape septet")
    return "".join(chars)


def split_by_cost(
    text: str, cost: Callable[[str], int], single_limit: int, part_limit: int
) -> tuple[str, ...]:
    """Greedy split by ``cost`` per character; characters are never cut, so nor are pairs."""
    if sum(cost(char) for char in text) <= single_limit:
        return (text,)
    parts: list[str] = []
    start = used = 0
    for index, char in enumerate(text):
        char_cost = cost(char)
        if used + char_cost > part_limit:
            parts.append(text[start:index])
            start, used = index, 0
        used += char_cost
    parts.append(text[start:])
    return tuple(parts)
