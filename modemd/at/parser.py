"""Sans-IO AT framing: bytes in, events out.

The parser knows nothing of ports or time. ``feed`` takes any chunk (one byte, a split ``\\r\\n``,
a burst of lines) and returns the complete events it makes:

- ``Line``: one non-empty response line, ``\\r``/``\\n`` stripped (echoes included: the
  command layer drops them, since only it knows what was sent);
- ``Prompt``: the ``> `` that asks for an SMS body (no line end follows it);
- ``Urc``: an unsolicited result code whose shape is known, with its PDU line attached when it
  has one (``+CDS: <len>`` / ``+CMT: ,<len>`` are followed by a hex PDU line).

Lines that are neither a known URC nor a prompt come out as ``Line``; whether a line is a
command's response, its final result, or an unknown URC is decided by ``at.transaction``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROMPT = b"> "
_LINE_ENDS = re.compile(rb"[\r\n]+")  # a run of them ends one line: empty lines say nothing
MAX_LINE_BYTES = 4096  # longer lines are garbage (a PDU line is at most ~360 hex chars)


@dataclass(frozen=True, slots=True)
class Line:
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    pass


@dataclass(frozen=True, slots=True)
class Urc:
    text: str  # the URC line itself, e.g. '+CDS: 25' or '+CMTI: "SM",3'
    pdu: str | None = None  # the hex PDU line that followed, for two-line URCs


Event = Line | Prompt | Urc

# URCs that take a second line: "+CDS: <len>" (PDU mode; text mode's +CDS is one line) and
# "+CMT: ..." (the PDU in PDU mode, the text in text mode).
_TWO_LINE_URC = re.compile(r"^\+(CDS: *\d+|CMT: .*)$")
_TWO_LINE_PREFIXES = ("+CDS:", "+CMT:")  # only these may match it (a test before the pattern)

# Prefixes that are always unsolicited. "+CREG:"/"+CPIN:" are not here: they are also
# responses; the transaction layer decides by what is in flight.
URC_PREFIXES: tuple[str, ...] = (
    "+CDS:",
    "+CDSI:",
    "+CMTI:",
    "^SMMEMFULL",
    "+CMT:",
    "+CBM:",
    "+CUSD:",
    "+CIEV:",
    "+CRING:",
    "+CLIP:",
    "RING",
    "RDY",
    "^RSSI:",
    "^BOOT:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^HCSQ:",
    "+ZDONR",
    "+ZPASR",
    "+ZUSIMR",
    "+ZEND",
    "+QIND:",
    "+PBREADY",
    "SMS Ready",
    "Call Ready",
)


def is_urc(text: str) -> bool:
    """True for lines that are unsolicited whatever command is in flight."""
    return text.startswith(URC_PREFIXES)


class AtParser:
    """Incremental framer. Keeps at most one partial line between calls."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending_urc: str | None = None  # a two-line URC waiting for its PDU line

    def feed(self, data: bytes) -> list[Event]:
        """Consume ``data``; return the events completed by it, in order.

        A run of bytes without a line end at a time (the same events as byte by byte: a
        prompt can only be where a line starts, and an overlong line is cut every
        ``MAX_LINE_BYTES`` + 1 bytes). A whole line in ``data`` that starts no prompt and is
        not overlong is decoded as it is, without going through the buffer."""
        events: list[Event] = []
        *ended, rest = _LINE_ENDS.split(data)
        for run in ended:
            if self._buf or run.startswith(PROMPT) or len(run) > MAX_LINE_BYTES:
                self._take(run, events)
                self._end_line(events)
            elif run:
                self._line(run.decode("latin-1").strip(), events)
        if rest:
            self._take(rest, events)
        return events

    def _take(self, run: bytes, events: list[Event]) -> None:
        """Add a run of bytes with no line end to the line in progress."""
        buf = self._buf
        buf += run
        while buf:
            if buf.startswith(PROMPT):
                del buf[: len(PROMPT)]
                events.append(Prompt())
            elif len(buf) > MAX_LINE_BYTES:
                # Garbage with no line end: drop it rather than grow without bound.
                events.append(Line(buf[: MAX_LINE_BYTES + 1].decode("latin-1").strip()))
                del buf[: MAX_LINE_BYTES + 1]
            else:
                return

    def reset(self) -> None:
        """Forget partial input (after reopening a port)."""
        self._buf.clear()
        self._pending_urc = None

    def _end_line(self, events: list[Event]) -> None:
        text = self._buf.decode("latin-1").strip()
        self._buf.clear()
        self._line(text, events)

    def _line(self, text: str, events: list[Event]) -> None:
        if not text:
            return
        if self._pending_urc is not None:
            events.append(Urc(self._pending_urc, pdu=text))
            self._pending_urc = None
        elif text.startswith(_TWO_LINE_PREFIXES) and _TWO_LINE_URC.match(text):
            self._pending_urc = text
        elif text.startswith(URC_PREFIXES):  # ``is_urc``
            events.append(Urc(text))
        else:
            events.append(Line(text))
