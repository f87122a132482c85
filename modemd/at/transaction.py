"""Sans-IO: which framed line belongs to the command in flight, and when it is done.

One ``Transaction`` per command (at most one in flight per modem). A command with a body
(AT+CMGS) first waits for the ``> `` prompt: ``on_prompt`` returns the bytes to write then (the
body and Ctrl-Z); before it nothing of the body is sent, after it the outcome depends on the
final result. Lines are classified by these rules, in order:
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

CTRL_Z = b"\x1a"  # ends an SMS body (27.005 3.5.1)


@dataclass(frozen=True, slots=True)
class Command:
    """An AT command and what its answer looks like."""

    text: str  # as written, without the trailing \r
    prefix: str | None = None  # e.g. "+CSQ:"; response lines carry it (stripped on output)
    # True when some modems end the command with the prefixed line and no final result
    # (Wavecom: "+CPIN: READY" without OK). The driver then waits a short grace for a final.
    final_optional: bool = False


class Phase(enum.StrEnum):
    """Where a transaction stands."""

    PROMPT = "prompt"  # a command with a body, waiting for "> ": nothing of the body sent yet
    FINAL = "final"  # waiting for the final result (after the body, if any)
    DONE = "done"  # the final result came


class Disposition(enum.StrEnum):
    ECHO = "echo"  # our own command echoed back: dropped
    RESPONSE = "response"  # part of the command's answer
    FINAL = "final"  # the final result: the command is over
    UNSOLICITED = "unsolicited"  # not ours: hand to the URC handler


@dataclass(slots=True)
class Transaction:
    """The answer to one command, built line by line."""

    command: Command
    body: bytes | None = None  # written after the "> " prompt, then Ctrl-Z (a PDU in hex)
    responses: list[str] = field(default_factory=list)
    final: Final | None = None
    body_sent: bool = False  # the prompt came and the body went out

    @property
    def done(self) -> bool:
        return self.final is not None

    @property
    def phase(self) -> Phase:
        if self.final is not None:
            return Phase.DONE
        if self.body is not None and not self.body_sent:
            return Phase.PROMPT
        return Phase.FINAL

    def on_prompt(self) -> bytes | None:
        """The ``> `` came: the bytes to write now (body + Ctrl-Z); None when none are due."""
        if self.phase is not Phase.PROMPT or self.body is None:
            return None
        self.body_sent = True
        return self.body + CTRL_Z

    @property
    def prefixed_seen(self) -> bool:
        return bool(self.responses) and self.command.prefix is not None

    def on_line(self, text: str) -> Disposition:
        """Classify ``text`` and record it when it is ours."""
        echo = self.command.text  # as written; a modem echoes it as typed (any case)
        if len(text) == len(echo) and (text == echo or text.upper() == echo.upper()):
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
