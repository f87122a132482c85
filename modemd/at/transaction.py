"""Sans-IO: which framed line belongs to the command in flight, and when it is done.

One ``Transaction`` per command (at most one in flight per modem). The rules, in order:
1. the echo of the command line is dropped;
2. a final result (``OK``, ``ERROR``, ``+CMS/+CME ERROR``, vendor finals) ends the command;
3. a line with the command's expected prefix is its response (prefix stripped);
4. another ``+``/``^`` line is unsolicited (a URC we do not know by name);
5. any other line is a response (IMEI digits, a maker's name, a PDU ...).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from modemd.at.results import Final, parse_final


@dataclass(frozen=True, slots=True)
class Command:
    """An AT command and what its answer looks like."""

    text: str  # as written, without the trailing \r
    prefix: str | None = None  # e.g. "+CSQ:"; response lines carry it (stripped on output)
    # True when some modems end the command with the prefixed line and no final result
    # (Wavecom: "+CPIN: READY" without OK). The driver then waits a short grace for a final.
    final_optional: bool = False


class Disposition(enum.StrEnum):
    ECHO = "echo"  # our own command echoed back: dropped
    RESPONSE = "response"  # part of the command's answer
    FINAL = "final"  # the final result: the command is over
    UNSOLICITED = "unsolicited"  # not ours: hand to the URC handler


@dataclass(slots=True)
class Transaction:
    """The answer to one command, built line by line."""

    command: Command
    responses: list[str] = field(default_factory=list)
    final: Final | None = None

    @property
    def done(self) -> bool:
        return self.final is not None

    @property
    def prefixed_seen(self) -> bool:
        return bool(self.responses) and self.command.prefix is not None

    def on_line(self, text: str) -> Disposition:
        """Classify ``text`` and record it when it is ours."""
        if text == self.command.text or text.upper() == self.command.text.upper():
            return Disposition.ECHO
        final = parse_final(text)
        if final is not None:
            self.final = final
            return Disposition.FINAL
        prefix = self.command.prefix
        if prefix is not None and text.startswith(prefix):
            self.responses.append(text[len(prefix) :].strip())
            return Disposition.RESPONSE
        if text.startswith(("+", "^")):
            return Disposition.UNSOLICITED
        self.responses.append(text)
        return Disposition.RESPONSE
