"""The emulated modem's AT interpreter, sans-IO: bytes in, bytes out, submissions to the network.

Reports routed with AT+CNMI ds=2 (stored, announced by +CDSI) are not emulated: with ds=2 no
report is emitted at all. URCs follow the CNMI mode: 0 keeps them buffered, 1 drops them while
the link is reserved (after the "> " prompt), 2 and 3 buffer them there and flush them after.
"""

from __future__ import annotations

import collections
import enum
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from modemd.sms import pdu

from .emulator_at import (
    BACKSPACE,
    CR,
    CRLF,
    CTRL_Z,
    DELETE,
    ERROR,
    ESC,
    LF,
    LINE_ENCODING,
    OK,
    Charset,
    CmeError,
    CmsError,
    CommandMode,
    LineState,
    Param,
    Reply,
    decode_te_string,
    decode_text_body,
    encode_te_string,
    format_scts,
    frame_line,
    parse_command,
    utf16_units,
)
from .emulator_profile import OCTET_MAX, MessageFormat, ModemProfile

log = logging.getLogger(__name__)

MAX_COMMAND_LINE_BYTES = 1024  # longer lines are cut, as a modem's line buffer would
MAX_BODY_BYTES = 1024  # an SMS body longer than this is cut (and then fails validation)
MAX_QUEUED_INPUT_BYTES = 4096  # input waiting while SENDING; more is lost like a full UART FIFO
MAX_DEFERRED_URCS = 32  # CNMI buffer; the oldest URC is dropped when full (27.005 3.4.1)
MAX_TPDU_OCTETS = 164  # largest SMS-SUBMIT TPDU: 1+1+12 (DA)+1+1+7 (VP)+1+140 (UD)
GSM_TEXT_MAX_CHARS = 160
UCS2_TEXT_MAX_UNITS = 70
PIN_ATTEMPTS = 3  # wrong PINs before the SIM asks for its PUK
FO_STATUS_REPORT_REQUEST = 0x20  # TP-SRR bit of the SMS-SUBMIT first octet (AT+CSMP <fo>)
DCS_ALPHABET_MASK = 0x0C
DCS_UCS2 = 0x08
CDS_TEXT_FIRST_OCTET = 6  # first octet of an SMS-STATUS-REPORT, as text-mode +CDS shows it
TOA_INTERNATIONAL = 145  # type of address: "+" number
TOA_UNKNOWN = 129
REGISTERED = frozenset({1, 5})  # +CREG stat: home, roaming
NUMBER = re.compile(r"\+?[0-9*#]{1,20}")
STORAGES = ("SM", "ME", "MT", "SR")  # accepted AT+CPMS memories
STORAGE_USED, STORAGE_TOTAL = 0, 30  # emulated memories stay empty
CNMI_LIMITS = (3, 3, 3, 2, 1)  # highest mode, mt, bm, ds, bfr
CNMI_MODE, CNMI_DS, CNMI_BFR = 0, 3, 4  # indices in the CNMI tuple
CNMI_MODE_BUFFER, CNMI_MODE_DISCARD_WHEN_RESERVED = 0, 1
CNMI_DS_DIRECT = 1  # status reports routed as +CDS
CMEE_VERBOSE = 2


class SimState(enum.Enum):
    """The SIM's lock, spelled as AT+CPIN? answers it."""

    READY = "READY"  # no PIN set, or the right PIN was given
    PIN = "SIM PIN"  # waiting for AT+CPIN="<sim_pin>"
    PUK = "SIM PUK"  # blocked after PIN_ATTEMPTS wrong PINs (emulated SIMs have no PUK)


SIM_ERRORS = {  # what a locked SIM answers to ME and SMS commands
    SimState.PIN: (CmeError.SIM_PIN_REQUIRED, CmsError.SIM_PIN_REQUIRED),
    SimState.PUK: (CmeError.SIM_PUK_REQUIRED, CmsError.SIM_PUK_REQUIRED),
}


@dataclass
class _Settings:
    """Session settings that ATZ and AT&F restore."""

    echo: bool = True
    cmee: int = 0
    cmgf: int = 0
    charset: Charset = Charset.GSM
    csmp: tuple[int, ...] = (17, 167, 0, 0)  # fo, vp, pid, dcs
    cnmi: tuple[int, ...] = (2, 1, 0, 0, 0)  # mode, mt, bm, ds, bfr
    creg: int = 0
    cmms: int = 0


@dataclass(frozen=True)
class Submission:
    """An SMS part handed to the network by Ctrl-Z."""

    to: str
    text: str
    part: int
    total: int
    mode: MessageFormat
    report_requested: bool


@dataclass(frozen=True)
class _Handler:
    """What a command does in each of its forms; a missing form answers ERROR."""

    exec: Callable[[], Reply] | None = None
    read: Callable[[], Reply] | None = None
    set: Callable[[tuple[Param, ...]], Reply] | None = None
    test: str | None = ""  # the AT+X=? line; "" answers a bare OK


class _Refused(Exception):
    """The modem refuses a submitted body with +CMS ERROR: <code>."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _one_int(params: tuple[Param, ...], low: int, high: int) -> int:
    """The single integer parameter of a command, else ValueError."""
    if len(params) != 1:
        raise ValueError(f"expected one parameter, got {len(params)}")
    return params[0].as_int(low, high)


def _ints(
    params: tuple[Param, ...], current: tuple[int, ...], limits: tuple[int, ...]
) -> tuple[int, ...]:
    """Integer parameters 0..limit; omitted ones keep their ``current`` value."""
    if not 1 <= len(params) <= len(limits):
        raise ValueError(f"expected 1..{len(limits)} parameters, got {len(params)}")
    given = [p.as_int(0, limit) if p.text else None for p, limit in zip(params, limits, strict=False)]
    given += [None] * (len(limits) - len(given))
    return tuple(old if new is None else new for old, new in zip(current, given, strict=True))


class ModemSession:
    """One modem's AT command state machine; its owner moves the bytes and plays the network."""

    def __init__(self, profile: ModemProfile, rng: random.Random, *, name: str) -> None:
        self._profile = profile
        self._rng = rng
        self._name = name
        self._settings = _Settings()
        self._state = LineState.COMMAND
        self._sim = SimState.PIN if profile.sim_pin else SimState.READY
        self._pin_attempts_left = PIN_ATTEMPTS
        self._smsc = profile.smsc
        self._line = bytearray()
        self._body = bytearray()
        self._input = bytearray()
        self._out = bytearray()
        self._target: int | str = 0  # AT+CMGS argument: TPDU octets (PDU) or number (text)
        self._deferred: collections.deque[bytes] = collections.deque(maxlen=MAX_DEFERRED_URCS)
        self._noise = (f"^RSSI:{profile.rssi}", '+ZDONR: "Emulated",1,1,"CS_PS","ROAM_OFF"')
        self._handlers = self._build_handlers()

    @property
    def state(self) -> LineState:
        """Current line state."""
        return self._state

    def data_to_send(self) -> bytes:
        """Take the bytes the modem has written since the last call."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def feed(self, data: bytes) -> Submission | None:
        """Process bytes from the host; returns a body submitted to the network, if any."""
        self._input += data[: MAX_QUEUED_INPUT_BYTES - len(self._input)]
        return self._drain()

    def accept_submission(self, mr: int) -> Submission | None:
        """The network accepted the submission as TP-MR ``mr``; may return the next one."""
        return self._finish_send(Reply((f"+CMGS: {mr}",)))

    def reject_submission(self, code: int) -> Submission | None:
        """The network refused the submission with +CMS ERROR: ``code``."""
        return self._finish_send(self._cms(code))

    def deliver_status_report(
        self, *, mr: int, recipient: str, status: int, scts: datetime, discharge: datetime
    ) -> None:
        """A status report arrives from the network; route it as AT+CNMI and AT+CMGF say."""
        if self._settings.cnmi[CNMI_DS] != CNMI_DS_DIRECT:
            return
        if self._format is MessageFormat.PDU:
            hex_pdu = pdu.build_status_report_pdu(mr, recipient, status, scts, discharge)
            octets = len(hex_pdu) // 2 - 1 - int(hex_pdu[:2], 16)
            self._urc(frame_line(f"+CDS: {octets}") + hex_pdu.encode("ascii") + CRLF)
            return
        address = encode_te_string(recipient, self._settings.charset)
        toa = TOA_INTERNATIONAL if recipient.startswith("+") else TOA_UNKNOWN
        times = f'"{format_scts(scts)}","{format_scts(discharge)}"'
        line = f'+CDS: {CDS_TEXT_FIRST_OCTET},{mr},"{address}",{toa},{times},{status}'
        self._urc(frame_line(line))

    # -- bytes in -------------------------------------------------------------------------

    @property
    def _format(self) -> MessageFormat:
        return MessageFormat.TEXT if self._settings.cmgf else MessageFormat.PDU

    def _set_state(self, new: LineState) -> None:
        """Change the line state; leaving BODY releases the URCs deferred meanwhile."""
        log.debug("%s: line %s -> %s", self._name, self._state.value, new.value)
        old, self._state = self._state, new
        if old is LineState.BODY and self._settings.cnmi[CNMI_MODE] != CNMI_MODE_BUFFER:
            self._flush_deferred()

    def _drain(self) -> Submission | None:
        """Consume queued input until it runs out or a submission puts the modem in SENDING."""
        consumed = 0
        submission = None
        for byte in self._input:
            if self._state is LineState.SENDING:
                break
            consumed += 1
            if self._state is LineState.COMMAND:
                self._command_byte(byte)
            else:
                submission = self._body_byte(byte)
        del self._input[:consumed]
        return submission

    def _command_byte(self, byte: int) -> None:
        if byte == CR:
            line = bytes(self._line)
            self._line.clear()
            self._run_line(line)
        elif byte in (ESC, CTRL_Z):
            self._line.clear()
        elif byte in (BACKSPACE, DELETE):
            del self._line[-1:]
        elif byte != LF and len(self._line) < MAX_COMMAND_LINE_BYTES:
            self._line.append(byte)

    def _body_byte(self, byte: int) -> Submission | None:
        if byte == CTRL_Z:
            return self._submit()
        if byte == ESC:
            self._body.clear()
            self._out += OK.render()
            self._set_state(LineState.COMMAND)
            return None
        if len(self._body) < MAX_BODY_BYTES:
            self._body.append(byte)
        if self._settings.echo:
            self._out.append(byte)
        return None

    def _run_line(self, raw: bytes) -> None:
        if self._settings.echo:
            self._out += raw + b"\r"
        text = raw.decode(LINE_ENCODING).strip()
        if not text:
            return
        reply = self._execute(text)
        self._out += reply.render()
        if reply.prompt:
            self._set_state(LineState.BODY)

    def _execute(self, text: str) -> Reply:
        if text[:2].upper() != "AT":
            return ERROR
        try:
            command = parse_command(text[2:])
            handler = self._handlers[command.name]
            if command.mode is CommandMode.TEST and handler.test is not None:
                return Reply((handler.test,) if handler.test else ())
            if command.mode is CommandMode.SET and handler.set is not None:
                return handler.set(command.params)
            action = handler.exec if command.mode is CommandMode.EXEC else handler.read
            return action() if action is not None else ERROR
        except (KeyError, ValueError):
            return ERROR

    # -- commands ------------------------------------------------------------------------

    def _build_handlers(self) -> dict[str, _Handler]:
        profile = self._profile
        handlers = {
            "": _Handler(exec=lambda: OK),
            "E": _Handler(exec=lambda: self._echo(0), set=lambda ps: self._echo(_one_int(ps, 0, 1))),
            "Z": _Handler(exec=self._reset, set=lambda ps: self._reset(_one_int(ps, 0, 0))),
            "&F": _Handler(exec=self._reset, set=lambda ps: self._reset(_one_int(ps, 0, 0))),
            "I": _Handler(
                exec=lambda: Reply((profile.manufacturer, profile.model, profile.firmware))
            ),
            "+CGMI": _Handler(exec=lambda: Reply((profile.manufacturer,))),
            "+CGMM": _Handler(exec=lambda: Reply((profile.model,))),
            "+CGMR": _Handler(exec=lambda: Reply((profile.firmware,))),
            "+CGSN": _Handler(exec=lambda: Reply((profile.imei,))),
            "+CCID": _Handler(exec=self._iccid, read=self._iccid),
            "+CIMI": _Handler(exec=self._imsi),
            "+CSQ": _Handler(exec=self._signal, test="+CSQ: (0-31,99),(0-7,99)"),
            "+CREG": self._int_setting("+CREG", "creg", 2, read=self._registration),
            "+CMEE": self._int_setting("+CMEE", "cmee", CMEE_VERBOSE),
            "+CMGF": self._int_setting("+CMGF", "cmgf", 1),
            "+CMMS": self._int_setting("+CMMS", "cmms", 2),
            "+CPIN": _Handler(read=self._pin_state, set=self._enter_pin),
            "+CSCS": _Handler(
                read=lambda: Reply((f'+CSCS: "{self._settings.charset}"',)),
                set=self._select_charset,
                test="+CSCS: (" + ",".join(f'"{c}"' for c in Charset) + ")",
            ),
            "+CSMP": _Handler(read=self._csmp, set=self._set_csmp),
            "+CSCA": _Handler(read=self._smsc_address, set=self._set_smsc),
            "+CPMS": _Handler(
                read=self._storage,
                set=self._select_storage,
                test="+CPMS: " + ",".join(["(" + ",".join(f'"{s}"' for s in STORAGES) + ")"] * 3),
            ),
            "+CMGS": _Handler(set=self._start_send),
        }
        if profile.supports_cnmi:
            limits = ",".join(f"(0-{limit})" for limit in CNMI_LIMITS)
            handlers["+CNMI"] = _Handler(read=self._cnmi, set=self._set_cnmi, test=f"+CNMI: {limits}")
        return handlers

    def _int_setting(
        self, name: str, field: str, high: int, read: Callable[[], Reply] | None = None
    ) -> _Handler:
        """A ``name=<0..high>`` setting kept in ``_Settings.<field>``, with its ? and =? forms."""

        def read_value() -> Reply:
            return Reply((f"{name}: {getattr(self._settings, field)}",))

        def set_value(params: tuple[Param, ...]) -> Reply:
            setattr(self._settings, field, _one_int(params, 0, high))
            return OK

        return _Handler(read=read or read_value, set=set_value, test=f"{name}: (0-{high})")

    def _cme(self, code: CmeError) -> Reply:
        """A +CME ERROR as AT+CMEE asks for it."""
        if self._settings.cmee == 0:
            return ERROR
        verbose = self._settings.cmee == CMEE_VERBOSE
        return Reply(final=f"+CME ERROR: {CME_VERBOSE[code] if verbose else int(code)}")

    def _cms(self, code: int) -> Reply:
        return Reply(final=f"+CMS ERROR: {int(code)}")

    def _sim_error(self, *, sms: bool) -> Reply | None:
        """The error a locked SIM gives an ME command (+CME) or an SMS command (+CMS)."""
        if self._sim is SimState.READY:
            return None
        cme, cms = SIM_ERRORS[self._sim]
        return self._cms(cms) if sms else self._cme(cme)

    def _echo(self, value: int) -> Reply:
        self._settings.echo = bool(value)
        return OK

    def _reset(self, _profile: int = 0) -> Reply:
        self._settings = _Settings()
        self._deferred.clear()
        return OK

    def _iccid(self) -> Reply:
        return Reply((f"+CCID: {self._profile.iccid}",))

    def _imsi(self) -> Reply:
        return self._sim_error(sms=False) or Reply((self._profile.imsi,))

    def _signal(self) -> Reply:
        return Reply((f"+CSQ: {self._profile.rssi},99",))

    def _registration(self) -> Reply:
        stat = self._profile.registration if self._sim is SimState.READY else 0
        return Reply((f"+CREG: {self._settings.creg},{stat}",))

    def _pin_state(self) -> Reply:
        final = None if self._profile.cpin_without_ok else "OK"
        return Reply((f"+CPIN: {self._sim.value}",), final=final)

    def _enter_pin(self, params: tuple[Param, ...]) -> Reply:
        if len(params) != 1:
            raise ValueError("AT+CPIN=<pin> takes one parameter")
        if self._sim is not SimState.PIN:
            blocked = self._sim is SimState.PUK
            return self._cme(CmeError.SIM_PUK_REQUIRED if blocked else CmeError.OPERATION_NOT_ALLOWED)
        if params[0].text == self._profile.sim_pin:
            self._sim = SimState.READY
            log.info("%s: SIM unlocked", self._name)
            return OK
        self._pin_attempts_left -= 1
        if self._pin_attempts_left == 0:
            self._sim = SimState.PUK
            log.warning("%s: SIM blocked after %d wrong PINs", self._name, PIN_ATTEMPTS)
        return self._cme(CmeError.INCORRECT_PASSWORD)

    def _select_charset(self, params: tuple[Param, ...]) -> Reply:
        if len(params) != 1 or not params[0].quoted:
            raise ValueError("AT+CSCS takes one quoted charset")
        self._settings.charset = Charset(params[0].text.upper())
        return OK

    def _csmp(self) -> Reply:
        return Reply((f"+CSMP: {','.join(map(str, self._settings.csmp))}",))

    def _set_csmp(self, params: tuple[Param, ...]) -> Reply:
        self._settings.csmp = _ints(params, self._settings.csmp, (OCTET_MAX,) * 4)
        if self._profile.wipes_smsc_on_csmp:
            self._smsc = ""
        return OK

    def _smsc_address(self) -> Reply:
        blocked = self._sim_error(sms=True)
        if blocked:
            return blocked
        toa = TOA_INTERNATIONAL if self._smsc.startswith("+") else TOA_UNKNOWN
        return Reply((f'+CSCA: "{encode_te_string(self._smsc, self._settings.charset)}",{toa}',))

    def _set_smsc(self, params: tuple[Param, ...]) -> Reply:
        blocked = self._sim_error(sms=True)
        if blocked:
            return blocked
        if not 1 <= len(params) <= 2 or not params[0].quoted:
            raise ValueError('AT+CSCA="<sca>"[,<tosca>]')
        if len(params) == 2:
            params[1].as_int(0, OCTET_MAX)
        address = decode_te_string(params[0].text, self._settings.charset)
        if not NUMBER.fullmatch(address):
            raise ValueError(f"bad SMSC address {address!r}")
        self._smsc = address
        return OK

    def _cnmi(self) -> Reply:
        return Reply((f"+CNMI: {','.join(map(str, self._settings.cnmi))}",))

    def _set_cnmi(self, params: tuple[Param, ...]) -> Reply:
        self._settings.cnmi = _ints(params, self._settings.cnmi, CNMI_LIMITS)
        if self._settings.cnmi[CNMI_MODE] != CNMI_MODE_BUFFER:
            if self._settings.cnmi[CNMI_BFR] == 0:
                self._flush_deferred()
            self._deferred.clear()
        return OK

    def _storage(self) -> Reply:
        blocked = self._sim_error(sms=True)
        counts = f"{STORAGE_USED},{STORAGE_TOTAL}"
        return blocked or Reply(("+CPMS: " + ",".join([f'"SM",{counts}'] * 3),))

    def _select_storage(self, params: tuple[Param, ...]) -> Reply:
        blocked = self._sim_error(sms=True)
        if blocked:
            return blocked
        if not 1 <= len(params) <= 3 or any(p.text.upper() not in STORAGES for p in params):
            raise ValueError("AT+CPMS takes 1..3 known memories")
        return Reply(("+CPMS: " + ",".join([f"{STORAGE_USED},{STORAGE_TOTAL}"] * 3),))

    # -- sending -------------------------------------------------------------------------

    def _start_send(self, params: tuple[Param, ...]) -> Reply:
        """AT+CMGS: check the SIM and the network, read the argument, then prompt for the body."""
        blocked = self._sim_error(sms=True)
        if blocked:
            return blocked
        if self._profile.registration not in REGISTERED:
            return self._cms(CmsError.NO_NETWORK_SERVICE)
        try:
            self._target = self._cmgs_target(params)
        except ValueError:
            return self._cms(self._invalid_parameter)
        self._body.clear()
        self._emit_noise()
        return Reply(final=None, prompt=True)

    @property
    def _invalid_parameter(self) -> CmsError:
        if self._format is MessageFormat.PDU:
            return CmsError.INVALID_PDU_PARAMETER
        return CmsError.INVALID_TEXT_PARAMETER

    def _cmgs_target(self, params: tuple[Param, ...]) -> int | str:
        """TPDU length (PDU mode) or destination number (text mode) from AT+CMGS=..."""
        if self._format is MessageFormat.PDU:
            return _one_int(params, 1, MAX_TPDU_OCTETS)
        if not 1 <= len(params) <= 2 or not params[0].quoted:
            raise ValueError('AT+CMGS="<da>"[,<toda>]')
        if len(params) == 2:
            params[1].as_int(0, OCTET_MAX)
        number = decode_te_string(params[0].text, self._settings.charset)
        if not NUMBER.fullmatch(number):
            raise ValueError(f"bad destination {number!r}")
        return number

    def _submit(self) -> Submission | None:
        """Ctrl-Z: validate the body; refuse it at once or start SENDING."""
        body = bytes(self._body)
        self._body.clear()
        try:
            if isinstance(self._target, int):
                submission = self._read_pdu(body, self._target)
            else:
                submission = self._read_text(body, self._target)
        except (ValueError, IndexError, KeyError):
            self._out += self._cms(self._invalid_parameter).render()
            self._set_state(LineState.COMMAND)
            return None
        except _Refused as refused:
            self._out += self._cms(refused.code).render()
            self._set_state(LineState.COMMAND)
            return None
        self._set_state(LineState.SENDING)
        return submission

    def _read_pdu(self, body: bytes, tpdu_octets: int) -> Submission:
        hex_pdu = "".join(body.decode("ascii").split()).upper()
        raw = bytes.fromhex(hex_pdu)
        smsc_octets = raw[0]
        if len(raw) - 1 - smsc_octets != tpdu_octets:
            raise ValueError(f"TPDU is {len(raw) - 1 - smsc_octets} octets, not {tpdu_octets}")
        decoded = pdu.decode_submit_pdu(hex_pdu)
        if smsc_octets == 0 and not self._smsc:
            raise _Refused(CmsError.SMSC_ADDRESS_UNKNOWN)
        report = decoded.status_report_requested
        return Submission(decoded.to, decoded.text, decoded.part, decoded.total, self._format, report)

    def _read_text(self, body: bytes, to: str) -> Submission:
        text = decode_text_body(body, self._settings.charset)
        ucs2 = self._settings.csmp[3] & DCS_ALPHABET_MASK == DCS_UCS2
        too_long = utf16_units(text) > UCS2_TEXT_MAX_UNITS if ucs2 else len(text) > GSM_TEXT_MAX_CHARS
        if too_long:
            raise ValueError("text does not fit in one SMS")
        if not self._smsc:
            raise _Refused(CmsError.SMSC_ADDRESS_UNKNOWN)
        report = bool(self._settings.csmp[0] & FO_STATUS_REPORT_REQUEST)
        return Submission(to, text, 1, 1, self._format, report)

    def _finish_send(self, reply: Reply) -> Submission | None:
        if self._state is not LineState.SENDING:
            raise RuntimeError(f"{self._name}: no submission in progress")
        self._emit_noise()
        self._out += reply.render()
        self._set_state(LineState.COMMAND)
        return self._drain()

    # -- URCs ----------------------------------------------------------------------------

    def _emit_noise(self) -> None:
        """A vendor URC, when the profile asks for noise."""
        if self._profile.urc_noise:
            self._out += frame_line(self._rng.choice(self._noise))

    def _urc(self, data: bytes) -> None:
        """Write a CNMI-routed URC now, or defer or drop it as the CNMI mode says."""
        mode = self._settings.cnmi[CNMI_MODE]
        if mode == CNMI_MODE_BUFFER or self._state is LineState.BODY:
            if mode != CNMI_MODE_DISCARD_WHEN_RESERVED:
                self._deferred.append(data)
            return
        self._out += data

    def _flush_deferred(self) -> None:
        self._out += b"".join(self._deferred)
        self._deferred.clear()

