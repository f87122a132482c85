"""GSM-7 septets <-> text with the national language shift tables (3GPP TS 23.038 6.2.1, Annex A).

A message's UDH may name a locking shift table (IEI 0x25: replaces the default alphabet) and a
single shift table (IEI 0x24: replaces the extension table reached through the escape 0x1B).
Language 0 is the default alphabet and its extension table. Decoding is lenient, as 23.038 asks
of a receiver: an escape followed by a code the shift table lacks shows the main table's
character, "escape escape" shows a space; each such oddity is also reported in ``notes``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from modemd.sms.encoding import GSM7_BASIC, GSM7_ESCAPE, GSM7_EXTENSION
from modemd.sms.national import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES, UNDEFINED

DEFAULT_LANGUAGE = 0
_SPANISH = 2  # 23.038 A.3.2: no Spanish locking shift table, the default alphabet applies

# Language id (23.038 6.2.1.2.4) -> 128 characters indexed by septet; index 0x1B is the escape.
_LOCKING: dict[int, str] = {
    DEFAULT_LANGUAGE: GSM7_BASIC,
    _SPANISH: GSM7_BASIC,
    **LOCKING_SHIFT_TABLES,
}
# Language id -> {septet after the escape: character}.
_SINGLE: dict[int, dict[int, str]] = {
    DEFAULT_LANGUAGE: {code: char for char, code in GSM7_EXTENSION.items()},
    **SINGLE_SHIFT_TABLES,
}


@dataclass(frozen=True, slots=True)
class GsmText:
    text: str
    notes: tuple[str, ...]  # what a receiver had to guess, for the log; empty when clean


def locking_languages() -> frozenset[int]:
    """Language ids whose locking shift table is implemented (0 = default alphabet)."""
    return frozenset(_LOCKING)


def single_languages() -> frozenset[int]:
    """Language ids whose single shift table is implemented (0 = default extension table)."""
    return frozenset(_SINGLE)


def decode_septets(
    septets: bytes, locking: int = DEFAULT_LANGUAGE, single: int = DEFAULT_LANGUAGE
) -> GsmText:
    """Unpacked septet values to text with the named shift tables (unknown ids: the default)."""
    notes: list[str] = []
    main = _LOCKING.get(locking)
    if main is None:
        notes.append(f"locking shift table {locking} not implemented: default alphabet used")
        main = GSM7_BASIC
    shift = _SINGLE.get(single)
    if shift is None:
        notes.append(f"single shift table {single} not implemented: default extension used")
        shift = _SINGLE[DEFAULT_LANGUAGE]
    chars: list[str] = []
    escaped = False
    for septet in septets:
        code = septet & 0x7F
        if escaped:
            escaped = False
            if code in shift:
                chars.append(shift[code])
            elif code == GSM7_ESCAPE:  # 23.038 6.2.1.1: reserved, "display a space"
                chars.append(" ")
                notes.append("escape followed by escape shown as a space")
            else:  # 23.038 6.2.1.1: show the main table's character
                chars.append(main[code])
                notes.append(f"escape + 0x{code:02X} is not in the shift table")
        elif code == GSM7_ESCAPE:
            escaped = True
        else:
            chars.append(main[code])
            if main[code] == UNDEFINED:
                notes.append(f"septet 0x{code:02X} is undefined in locking shift table {locking}")
    if escaped:
        chars.append(" ")
        notes.append("text ends with a lone escape, shown as a space")
    return GsmText("".join(chars), tuple(dict.fromkeys(notes)))


def encode_septets(
    text: str, locking: int = DEFAULT_LANGUAGE, single: int = DEFAULT_LANGUAGE
) -> bytes:
    """Text to unpacked septet values with the named tables; ValueError for a missing character."""
    main, shift = _reverse_tables(locking, single)
    septets = bytearray()
    for char in text:
        if char in main:
            septets.append(main[char])
        elif char in shift:
            septets += bytes((GSM7_ESCAPE, shift[char]))
        else:
            raise ValueError(f"character {char!r} is not in GSM-7 tables {locking}/{single}")
    return bytes(septets)


@functools.cache
def _reverse_tables(locking: int, single: int) -> tuple[dict[str, int], dict[str, int]]:
    """Character -> septet for a locking table and a single shift table."""
    if locking not in _LOCKING or single not in _SINGLE:
        raise ValueError(f"no shift tables for languages {locking}/{single}")
    main = {
        char: code
        for code, char in enumerate(_LOCKING[locking])
        if code != GSM7_ESCAPE and char != UNDEFINED
    }
    return main, {char: code for code, char in _SINGLE[single].items()}
