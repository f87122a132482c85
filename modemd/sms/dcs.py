"""TP-Data-Coding-Scheme (3GPP TS 23.038 section 4): alphabet, message class, compression, MWI.

23.038 4: "Any reserved codings shall be assumed to be the GSM 7 bit default alphabet (the same
as codepoint 00000000) by a receiving entity", so no DCS value is rejected: reserved ones read as
GSM-7 and say so in ``reserved``. Compressed text (23.042) is not implemented: ``compressed`` is
set and the caller keeps the raw user data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Alphabet(enum.StrEnum):
    GSM7 = "gsm7"  # 23.038 default alphabet, with national shift tables when the UDH names them
    DATA = "8bit"  # 8-bit data: kept as bytes, never decoded as text
    UCS2 = "ucs2"  # UTF-16BE in practice: surrogate pairs carry emoji


class WaitingKind(enum.IntEnum):
    """Message waiting indication type, DCS bits 1-0 in groups 1100-1110."""

    VOICEMAIL = 0
    FAX = 1
    EMAIL = 2
    OTHER = 3


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    kind: WaitingKind
    active: bool  # indication sense: True sets the indicator, False clears it
    store: bool  # False: group 1100, "discard message" (only the indication matters)


@dataclass(frozen=True, slots=True)
class DataCoding:
    raw: int  # the TP-DCS octet
    alphabet: Alphabet
    message_class: int | None  # 0 flash (show, do not store), 1 ME, 2 SIM, 3 TE; None: no class
    compressed: bool  # 23.042 compression: text not decodable here
    auto_delete: bool  # group 01xx: "marked for automatic deletion" after reading
    waiting: MessageWaiting | None  # groups 1100-1110
    reserved: bool  # a reserved coding, read as the GSM-7 default alphabet

    @property
    def flash(self) -> bool:
        return self.message_class == 0


_GENERAL_ALPHABETS = (Alphabet.GSM7, Alphabet.DATA, Alphabet.UCS2)  # bits 3-2 = 00, 01, 10
_MWI_GROUPS = {0xC: (Alphabet.GSM7, False), 0xD: (Alphabet.GSM7, True), 0xE: (Alphabet.UCS2, True)}


def parse_dcs(dcs: int) -> DataCoding:
    """Interpret a TP-DCS octet for an SMS-DELIVER."""
    group = dcs >> 4
    if group < 0x8:  # 00xx general, 01xx general marked for automatic deletion
        alphabet_bits = (dcs >> 2) & 0x03
        reserved = alphabet_bits == 0x03
        alphabet = Alphabet.GSM7 if reserved else _GENERAL_ALPHABETS[alphabet_bits]
        message_class = dcs & 0x03 if dcs & 0x10 else None
        return DataCoding(
            dcs, alphabet, message_class, bool(dcs & 0x20), bool(dcs & 0x40), None, reserved
        )
    if group in _MWI_GROUPS:
        alphabet, store = _MWI_GROUPS[group]
        waiting = MessageWaiting(WaitingKind(dcs & 0x03), bool(dcs & 0x08), store)
        return DataCoding(dcs, alphabet, None, False, False, waiting, bool(dcs & 0x04))
    if group == 0xF:  # data coding / message class; bit 3 reserved
        alphabet = Alphabet.DATA if dcs & 0x04 else Alphabet.GSM7
        return DataCoding(dcs, alphabet, dcs & 0x03, False, False, None, bool(dcs & 0x08))
    return DataCoding(dcs, Alphabet.GSM7, None, False, False, None, True)  # 1000-1011 reserved


def encode_dcs(alphabet: Alphabet, message_class: int | None = None) -> int:
    """A general-group TP-DCS for ``alphabet``, with a message class when one is given."""
    dcs = _GENERAL_ALPHABETS.index(alphabet) << 2
    if message_class is not None:
        if not 0 <= message_class <= 3:
            raise ValueError(f"message class must be 0..3, got {message_class}")
        dcs |= 0x10 | message_class
    return dcs
