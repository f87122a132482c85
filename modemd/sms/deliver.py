"""SMS-DELIVER decoding (3GPP TS 23.040 9.2.2.1): what a modem hands up from +CMGR, +CMGL, +CMT.

``decode_deliver`` takes the hex PDU with its SMSC part, as AT+CMGR prints it in PDU mode, and
returns a frozen ``Deliver`` or raises PduError carrying the raw PDU. Pure: no I/O, no clock.
What a receiver may tolerate (23.038's reserved codings, octets after the user data, an SMSC
time stamp that is no date, a lone UTF-16 surrogate) is decoded and listed in ``notes``.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from modemd.errors import PduError
from modemd.sms.alphabets import decode_septets
from modemd.sms.dcs import Alphabet, DataCoding, parse_dcs
from modemd.sms.tpdu import (
    Address,
    PduReader,
    decode_timestamp,
    from_hex,
)
from modemd.sms.udh import Concat, UserDataHeader, split_user_data

__all__ = [
    "Deliver",
    "MessageType",
    "decode_deliver",
    "decode_text",
    "message_type",
]


MTI_DELIVER = 0x00


class MessageType(enum.IntEnum):
    """TP-MTI of a PDU a modem hands up (from the network, or stored by the modem itself)."""

    DELIVER = 0  # an inbound message
    SUBMIT = 1  # an outbound message the modem stored (+CMGW) or a listing of sent ones
    STATUS_REPORT = 2  # a delivery report
    RESERVED = 3  # 23.040 reserves it: log and keep the raw PDU


_MTI_MASK = 0x03
_MMS = 0x04  # TP-More-Messages-to-Send, set when there are NO more messages
_SRI = 0x20  # TP-Status-Report-Indication
_UDHI = 0x40  # TP-User-Data-Header-Indicator
_RP = 0x80  # TP-Reply-Path
_MAX_USER_DATA_OCTETS = 140  # 23.040 9.2.3.16: 160 septets or 140 octets
_KEY_HEX_DIGITS = 32  # 128 bits of SHA-256: collisions are out of reach for one gateway


@dataclass(frozen=True, slots=True)
class Deliver:
    """One SMS-DELIVER: one part of a message when it is concatenated."""

    raw: str  # the PDU as received: upper-case hex, SMSC part included, no spaces
    smsc: Address | None  # None when the PDU's SMSC part is empty ("00")
    sender: Address  # TP-OA: "+<digits>" when international, the name when alphanumeric
    scts: datetime | None  # when the SMSC got it, in the SMSC's zone; None: not a valid date
    scts_raw: bytes  # the 7 TP-SCTS octets, valid or not
    pid: int  # TP-PID (0 = plain SMS; 0x41-0x47 replace short message type 1-7)
    dcs: DataCoding  # alphabet, message class (0 = flash), compression, MWI
    header: UserDataHeader  # UDH elements, concatenation, national language shifts
    fill_bits: int  # GSM-7: padding bits between the UDH and the first septet
    text: str | None  # the decoded text; None for 8-bit data and compressed text
    body: bytes  # the message after the UDH: septet values (GSM-7) or octets (8-bit, UCS-2)
    user_data: bytes  # TP-UD as sent: header and message, TP-UDL's worth of octets
    more_messages: bool  # TP-MMS: the SMSC has more messages waiting for this SIM
    status_report_indication: bool  # TP-SRI: the sender asked for a status report
    reply_path: bool  # TP-RP: a reply may go through this SMSC
    notes: tuple[str, ...]  # oddities tolerated while decoding, for the log; () when clean

    @property
    def concat(self) -> Concat | None:
        return self.header.concat

    @property
    def natural_key(self) -> str:
        """Identity of this part for exactly-once storage; equal for a repeated delivery.

        Sender, SCTS (stamped by the SMSC once per submitted message and kept when it or the
        modem repeats the delivery), concatenation reference, part and total (parts of one
        message may share a second), and a SHA-256 of TP-UD (two messages in one second from one
        sender differ in content). Left out on purpose: the SMSC address (a retry may come
        through another SMSC node), TP-MMS/TP-SRI/TP-RP (flags of the transfer, not of the
        message) and the modem's memory index. Scope it by the receiving SIM when storing.
        """
        concat = self.header.concat
        where = (
            [concat.reference_bits, concat.reference, concat.part, concat.total] if concat else []
        )
        material = [
            self.sender.value,
            self.scts_raw.hex(),
            where,
            hashlib.sha256(self.user_data).hexdigest(),
        ]
        canonical = json.dumps(material, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:_KEY_HEX_DIGITS]


def decode_deliver(pdu_hex: str, *, tpdu_length: int | None = None) -> Deliver:
    """Decode an SMS-DELIVER PDU; PduError with ``raw`` if it cannot be.

    ``tpdu_length`` is the <length> of +CMGR/+CMGL/+CMT (octets after the SMSC part): when the
    hex holds exactly that many octets the modem left the SMSC part out, else it comes first.
    """
    raw = "".join(pdu_hex.split()).upper()
    try:
        return _decode(raw, tpdu_length)
    except PduError as exc:
        raise PduError(str(exc), raw=raw) from None


def message_type(pdu_hex: str, *, tpdu_length: int | None = None) -> MessageType:
    """What a stored or routed PDU is (23.040 9.2.3.1), to pick its decoder; PduError if garbage.

    A modem's memory holds DELIVERs, STATUS-REPORTs and SUBMITs side by side (+CMGL=4).
    """
    raw = "".join(pdu_hex.split()).upper()
    try:
        reader, _ = _open(raw, tpdu_length, [])
        return MessageType(reader.octet("first octet") & _MTI_MASK)
    except PduError as exc:
        raise PduError(str(exc), raw=raw) from None


def decode_text(
    alphabet: Alphabet, body: bytes, header: UserDataHeader
) -> tuple[str, tuple[str, ...]]:
    """Text of a GSM-7 (septet values) or UCS-2 body, and what had to be tolerated."""
    if alphabet is Alphabet.GSM7:
        decoded = decode_septets(body, header.locking_shift, header.single_shift)
        return decoded.text, decoded.notes
    notes: list[str] = []
    if len(body) % 2:
        notes.append("UCS-2 body has an odd number of octets: the last one is ignored")
    text = body[: len(body) // 2 * 2].decode("utf-16-be", errors="replace")
    if "\ufffd" in text and b"\xff\xfd" not in body:
        notes.append("UCS-2 body has an unpaired surrogate: shown as U+FFFD")
    return text, tuple(notes)


def _open(raw: str, tpdu_length: int | None, notes: list[str]) -> tuple[PduReader, Address | None]:
    """A reader at the first octet, and the SMSC part (absent: exactly ``tpdu_length`` octets)."""
    data = from_hex(raw)
    reader = PduReader(data)
    if tpdu_length is not None and tpdu_length == len(data):
        return reader, None
    if tpdu_length is not None and 1 + data[0] + tpdu_length != len(data):
        notes.append(f"<length> {tpdu_length} does not match the PDU's {len(data)} octets")
    return reader, reader.smsc()


def _decode(raw: str, tpdu_length: int | None) -> Deliver:
    notes: list[str] = []
    reader, smsc = _open(raw, tpdu_length, notes)
    first = reader.octet("first octet")
    if first & _MTI_MASK != MTI_DELIVER:
        raise PduError(f"not an SMS-DELIVER: TP-MTI is {first & _MTI_MASK}")
    sender = reader.address("TP-OA")
    pid = reader.octet("TP-PID")
    dcs = parse_dcs(reader.octet("TP-DCS"))
    scts_raw = reader.take(7, "TP-SCTS")
    udl = reader.octet("TP-UDL")
    if dcs.reserved:
        notes.append(f"reserved TP-DCS 0x{dcs.raw:02X} read as {dcs.alphabet.value}")
    scts = decode_timestamp(scts_raw)
    if scts is None:
        notes.append(f"TP-SCTS {scts_raw.hex().upper()} is not a valid time")
    septets = dcs.alphabet is Alphabet.GSM7 and not dcs.compressed  # UDL counts septets
    needed = (udl * 7 + 7) // 8 if septets else udl
    rest = reader.rest()
    if len(rest) < needed:
        raise PduError(f"TP-UDL {udl} means {needed} octets of user data, PDU has {len(rest)}")
    if len(rest) > needed:
        notes.append(f"{len(rest) - needed} octets after the user data ignored")
    if needed > _MAX_USER_DATA_OCTETS:
        notes.append(f"TP-UDL {udl} is over the {_MAX_USER_DATA_OCTETS}-octet maximum")
    user_data = rest[:needed]
    split = split_user_data(user_data, udl, septets=septets, has_header=bool(first & _UDHI))
    header, body = split.header, split.body
    text: str | None = None
    if dcs.compressed:
        notes.append("compressed user data (23.042) is not supported: body kept undecoded")
    elif dcs.alphabet is not Alphabet.DATA:
        text, text_notes = decode_text(dcs.alphabet, body, header)
        notes.extend(text_notes)
    return Deliver(
        raw=raw,
        smsc=smsc,
        sender=sender,
        scts=scts,
        scts_raw=scts_raw,
        pid=pid,
        dcs=dcs,
        header=header,
        fill_bits=split.fill_bits,
        text=text,
        body=body,
        user_data=user_data,
        more_messages=not first & _MMS,
        status_report_indication=bool(first & _SRI),
        reply_path=bool(first & _RP),
        notes=tuple(notes),
    )
