"""AT syntax of the emulated modem, sans-IO: command parsing, result framing, charsets, times."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

CR = 0x0D
LF = 0x0A
BACKSPACE = 0x08
DELETE = 0x7F
CTRL_Z = 0x1A  # ends an SMS body: submit
ESC = 0x1B  # ends an SMS body: abort; in command state: drop the half-typed line
CRLF = b"\r\n"
PROMPT = b"\r\n> "  # asks for the SMS body; no line end follows
LINE_ENCODING = "latin-1"  # the wire is bytes; one byte per character both ways
SECONDS_PER_QUARTER_HOUR = 900  # SCTS time zones count quarter hours


class LineState(enum.Enum):
    """What the emulated modem does with the next byte it reads."""

    COMMAND = "command"  # collecting a command line up to CR
    BODY = "body"  # after the "> " prompt: collecting an SMS body up to Ctrl-Z or ESC
    SENDING = "sending"  # body submitted, network busy: input queues up unprocessed


class CommandMode(enum.Enum):
    """The four forms of an AT command."""

    EXEC = "exec"  # AT+X
    READ = "read"  # AT+X?
    TEST = "test"  # AT+X=?
    SET = "set"  # AT+X=<params>


class Charset(enum.StrEnum):
    """AT+CSCS character sets: how string parameters and text-mode bodies are spelled."""

    GSM = "GSM"  # emulated as one byte per character
    IRA = "IRA"
    UCS2 = "UCS2"  # hex of UTF-16BE, four hex digits per unit


class CmeError(enum.IntEnum):
    """+CME ERROR codes (27.007 9.2) the emulator gives."""

    OPERATION_NOT_ALLOWED = 3
    SIM_NOT_INSERTED = 10
    SIM_PIN_REQUIRED = 11
    SIM_PUK_REQUIRED = 12
    INCORRECT_PASSWORD = 16


CME_VERBOSE = {  # AT+CMEE=2 texts
    CmeError.OPERATION_NOT_ALLOWED: "operation not allowed",
    CmeError.SIM_NOT_INSERTED: "SIM not inserted",
    CmeError.SIM_PIN_REQUIRED: "SIM PIN required",
    CmeError.SIM_PUK_REQUIRED: "SIM PUK required",
    CmeError.INCORRECT_PASSWORD: "incorrect password",
}


class CmsError(enum.IntEnum):
    """+CMS ERROR codes (27.005 3.2.5) the emulator gives."""

    INVALID_PDU_PARAMETER = 304
    INVALID_TEXT_PARAMETER = 305
    SIM_NOT_INSERTED = 310
    SIM_PIN_REQUIRED = 311
    SIM_PUK_REQUIRED = 316
    SMSC_ADDRESS_UNKNOWN = 330
    NO_NETWORK_SERVICE = 331


@dataclass(frozen=True)
class Param:
    """One comma-separated parameter of a command, with its quotes removed."""

    text: str
    quoted: bool

    def as_int(self, low: int, high: int) -> int:
        """The parameter as an unquoted integer in low..high, else ValueError."""
        if self.quoted or not self.text.isdigit() or not low <= int(self.text) <= high:
            raise ValueError(f"expected an integer in {low}..{high}, got {self.text!r}")
        return int(self.text)


@dataclass(frozen=True)
class Command:
    """A parsed command line (after "AT")."""

    name: str  # upper case: "" (bare AT), "E", "Z", "&F", "I", "+CMGS", "^CURC" ...
    mode: CommandMode
    params: tuple[Param, ...] = ()


_BASIC = re.compile(r"(?P<name>[EZI]|&F)(?P<value>\d*)", re.IGNORECASE)
_EXTENDED = re.compile(r"(?P<name>[+^][A-Z]+)(?P<suffix>=\?|\?|=(?P<params>.*))?", re.IGNORECASE)


def parse_command(body: str) -> Command:
    """Parse what follows "AT" on a command line; ValueError when it is no command."""
    if not body:
        return Command("", CommandMode.EXEC)
    if basic := _BASIC.fullmatch(body):
        value = basic["value"]
        mode, params = (
            (CommandMode.SET, (Param(value, False),)) if value else (CommandMode.EXEC, ())
        )
        return Command(basic["name"].upper(), mode, params)
    extended = _EXTENDED.fullmatch(body)
    if extended is None:
        raise ValueError(f"not an AT command: {body!r}")
    name, suffix = extended["name"].upper(), extended["suffix"]
    if suffix is None:
        return Command(name, CommandMode.EXEC)
    if suffix == "?":
        return Command(name, CommandMode.READ)
    if suffix == "=?":
        return Command(name, CommandMode.TEST)
    return Command(name, CommandMode.SET, split_params(extended["params"]))


_BASIC_HEAD = re.compile(r"(&[A-Z]|[A-Z])\d*", re.IGNORECASE)


def split_command_line(body: str) -> list[str]:
    """What follows "AT" as one command each (V.250 5.2.1): ``+CMEE=1;+CREG=2`` is two, and
    basic commands chain without a separator (``E0+CMEE=1``). Semicolons inside quotes stay."""
    commands: list[str] = []
    for index, segment in enumerate(s.strip() for s in _split_outside_quotes(body, ";")):
        if not segment and index:
            continue  # "AT+CMEE=1;" ends with an empty command
        while segment[:1] not in ("", "+", "^") and (head := _BASIC_HEAD.match(segment)):
            if head.end() == len(segment):
                break
            commands.append(head.group())
            segment = segment[head.end() :]
        commands.append(segment)
    return commands


def split_params(text: str) -> tuple[Param, ...]:
    """Split ``a,"b,c",d`` into parameters; ValueError on a stray or unbalanced quote."""
    return tuple(_param(field.strip()) for field in _split_outside_quotes(text, ","))


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """``text`` cut at each ``separator`` outside double quotes; ValueError when a quote is
    left open."""
    if '"' not in text:
        return text.split(separator)
    fields: list[str] = []
    current: list[str] = []
    in_quotes = False
    for char in text:
        if char == '"':
            in_quotes = not in_quotes
        if char == separator and not in_quotes:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    if in_quotes:
        raise ValueError(f"unbalanced quotes in {text!r}")
    fields.append("".join(current))
    return fields


def _param(field: str) -> Param:
    """One stripped field: ``"text"`` (quoted) or bare text."""
    if len(field) >= 2 and field[0] == field[-1] == '"' and '"' not in field[1:-1]:
        return Param(field[1:-1], quoted=True)
    if '"' in field:
        raise ValueError(f"stray quote in parameter {field!r}")
    return Param(field, quoted=False)


def frame_line(line: str) -> bytes:
    """One response line as the modem writes it: CR LF <line> CR LF."""
    return CRLF + line.encode(LINE_ENCODING, "replace") + CRLF


@dataclass(frozen=True)
class Reply:
    """A command's response: information lines, then a final result and/or the "> " prompt."""

    lines: tuple[str, ...] = ()
    final: str | None = "OK"  # None: no final result (the prompt, or a quirk)
    prompt: bool = False

    def render(self) -> bytes:
        """The bytes on the wire."""
        text = b"".join(frame_line(line) for line in self.lines)
        if self.final is not None:
            text += frame_line(self.final)
        return text + PROMPT if self.prompt else text


OK = Reply()
ERROR = Reply(final="ERROR")


def decode_te_string(text: str, charset: Charset) -> str:
    """A string parameter as the host spelled it in ``charset``; ValueError if malformed."""
    if charset is not Charset.UCS2:
        return text
    if len(text) % 4:
        raise ValueError(f"UCS2 string length is not a multiple of 4: {text!r}")
    return bytes.fromhex(text).decode("utf-16-be")


def encode_te_string(text: str, charset: Charset) -> str:
    """Spell ``text`` in ``charset`` for a response or URC."""
    return text.encode("utf-16-be").hex().upper() if charset is Charset.UCS2 else text


def decode_text_body(body: bytes, charset: Charset) -> str:
    """A text-mode SMS body as typed after the prompt; ValueError if malformed."""
    if charset is Charset.UCS2:
        return decode_te_string("".join(body.decode("ascii").split()), charset)
    return body.decode(LINE_ENCODING)


def utf16_units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what a UCS-2 SMS counts)."""
    return len(text.encode("utf-16-be")) // 2


def format_scts(moment: datetime) -> str:
    """A timezone-aware time as text-mode reports spell it: yy/MM/dd,hh:mm:ss±zz."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("SCTS needs a timezone-aware datetime")
    quarters = round(offset.total_seconds() / SECONDS_PER_QUARTER_HOUR)
    sign = "-" if quarters < 0 else "+"
    return f"{moment:%y/%m/%d,%H:%M:%S}{sign}{abs(quarters):02d}"
