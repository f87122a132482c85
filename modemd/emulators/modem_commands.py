"""Identity, SIM and setting commands of the emulated modem (sans-IO): one command line -> Reply."""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from .modem_at import (
    CME_VERBOSE,
    ERROR,
    OK,
    Charset,
    CmeError,
    CmsError,
    CommandMode,
    Param,
    Reply,
    decode_te_string,
    encode_te_string,
    parse_command,
    split_command_line,
)
from .profile import OCTET_MAX, MessageFormat, ModemProfile

log = logging.getLogger(__name__)

PIN_ATTEMPTS = 3  # wrong PINs before the SIM asks for its PUK
CMEE_VERBOSE = 2
TOA_INTERNATIONAL = 145  # type of address of a "+" number
TOA_UNKNOWN = 129
NUMBER = re.compile(r"\+?[0-9*#]{1,20}")
CSMP_FIELDS = 4  # fo, vp, pid, dcs


class SimState(enum.Enum):
    """The SIM's lock, spelled as AT+CPIN? answers it."""

    READY = "READY"  # no PIN set, or the right PIN was given
    PIN = "SIM PIN"  # waiting for AT+CPIN="<sim_pin>"
    PUK = "SIM PUK"  # blocked after PIN_ATTEMPTS wrong PINs (emulated SIMs have no PUK)
    ABSENT = "SIM ABSENT"  # removed: AT+CPIN? itself answers +CME ERROR: 10


SIM_ERRORS = {  # what a locked SIM answers to ME commands (+CME) and SMS commands (+CMS)
    SimState.PIN: (CmeError.SIM_PIN_REQUIRED, CmsError.SIM_PIN_REQUIRED),
    SimState.PUK: (CmeError.SIM_PUK_REQUIRED, CmsError.SIM_PUK_REQUIRED),
    SimState.ABSENT: (CmeError.SIM_NOT_INSERTED, CmsError.SIM_NOT_INSERTED),
}


@dataclass
class Settings:
    """Session settings that ATZ and AT&F restore."""

    echo: bool = True
    cmee: int = 0
    cmgf: int = 0
    charset: Charset = Charset.GSM
    csmp: tuple[int, ...] = (17, 167, 0, 0)  # fo, vp, pid, dcs
    cnmi: tuple[int, ...] = (2, 1, 0, 0, 0)  # mode, mt, bm, ds, bfr
    creg: int = 0  # +CREG URCs: 0 off, 1 <stat>, 2 <stat> and location
    cgreg: int = 0  # +CGREG (packet domain), as +CREG
    cereg: int = 0  # +CEREG (LTE), as +CREG
    cmms: int = 0
    csms: int = 0  # AT+CSMS: 0 phase 2 (the modem acknowledges +CMT itself), 1 phase 2+ (AT+CNMA)

    @property
    def format(self) -> MessageFormat:
        """The AT+CMGF message format."""
        return MessageFormat.TEXT if self.cmgf else MessageFormat.PDU


@dataclass(frozen=True)
class Handler:
    """What a command does in each of its forms; a missing form answers ERROR."""

    exec: Callable[[], Reply] | None = None
    read: Callable[[], Reply] | None = None
    set: Callable[[tuple[Param, ...]], Reply] | None = None
    test: str | None = ""  # the AT+X=? line; "" answers a bare OK, None answers ERROR


def one_int(params: tuple[Param, ...], low: int, high: int) -> int:
    """The single integer parameter of a command, else ValueError."""
    if len(params) != 1:
        raise ValueError(f"expected one parameter, got {len(params)}")
    return params[0].as_int(low, high)


def ints(
    params: tuple[Param, ...], current: tuple[int, ...], limits: tuple[int, ...]
) -> tuple[int, ...]:
    """Integer parameters 0..limit each; omitted ones keep their ``current`` value."""
    if not 1 <= len(params) <= len(limits):
        raise ValueError(f"expected 1..{len(limits)} parameters, got {len(params)}")
    given = [p.as_int(0, high) if p.text else None for p, high in zip(params, limits, strict=False)]
    given += [None] * (len(limits) - len(given))
    return tuple(old if new is None else new for old, new in zip(current, given, strict=True))


def quoted_number(params: tuple[Param, ...], charset: Charset) -> str:
    """The ``"<number>"[,<type>]`` parameters of AT+CMGS (text) and AT+CSCA, decoded."""
    if not 1 <= len(params) <= 2 or not params[0].quoted:
        raise ValueError('expected "<number>"[,<type>]')
    if len(params) == 2:
        params[1].as_int(0, OCTET_MAX)
    number = decode_te_string(params[0].text, charset)
    if not NUMBER.fullmatch(number):
        raise ValueError(f"bad number {number!r}")
    return number


class ModemCommands:
    """The modem's settings, SIM and SMSC, and the commands that read or change them."""

    def __init__(self, profile: ModemProfile, *, name: str) -> None:
        self._profile = profile
        self._name = name
        self.settings = Settings()
        self.sim_pin = profile.sim_pin  # a fault may lock a SIM that had no PIN
        self.sim = SimState.PIN if profile.sim_pin else SimState.READY
        self.smsc = profile.smsc  # "" once a quirky AT+CSMP wiped it
        self.registration = profile.registration  # +CREG <stat> while the SIM is ready
        self.rssi = profile.rssi
        self._pin_attempts_left = PIN_ATTEMPTS
        self._handlers = self._build_handlers()

    def set_sim(self, state: SimState) -> None:
        """Runtime knob: the SIM is removed (ABSENT), blocked (PUK), locked or ready."""
        log.info("%s: SIM %s -> %s", self._name, self.sim.value, state.value)
        self.sim = state
        if state is SimState.PIN:
            self._pin_attempts_left = PIN_ATTEMPTS

    def register(self, name: str, handler: Handler) -> None:
        """Add (or replace) the handler of command ``name`` ("+CMGS", "Z" ...)."""
        self._handlers[name] = handler

    def execute(self, line: str) -> Reply:
        """Run one stripped, non-empty command line (several commands: one final result, the
        first failure stops the rest)."""
        if line[:2].upper() != "AT":
            return ERROR
        try:
            bodies = split_command_line(line[2:])
        except ValueError:
            return ERROR
        if len(bodies) > 1 and not self._profile.chains_commands:
            return ERROR
        lines: list[str] = []
        for body in bodies:
            reply = self._execute_one(body)
            lines += reply.lines
            if reply.final != OK.final or reply.prompt:
                return Reply(tuple(lines), reply.final, reply.prompt)
        return Reply(tuple(lines))

    def _execute_one(self, body: str) -> Reply:
        try:
            command = parse_command(body)
            handler = self._handlers[command.name]
            if command.mode is CommandMode.TEST and handler.test is not None:
                return Reply((handler.test,) if handler.test else ())
            if command.mode is CommandMode.SET and handler.set is not None:
                return handler.set(command.params)
            action = handler.exec if command.mode is CommandMode.EXEC else handler.read
            return action() if action is not None else ERROR
        except (KeyError, ValueError):
            return ERROR

    def cme(self, code: CmeError) -> Reply:
        """A +CME ERROR as AT+CMEE asks for it."""
        if self.settings.cmee == 0:
            return ERROR
        verbose = self.settings.cmee == CMEE_VERBOSE
        return Reply(final=f"+CME ERROR: {CME_VERBOSE[code] if verbose else int(code)}")

    def cms(self, code: int) -> Reply:
        """A +CMS ERROR (27.005 errors are numeric whatever AT+CMEE says)."""
        return Reply(final=f"+CMS ERROR: {int(code)}")

    def sim_error(self, *, sms: bool) -> Reply | None:
        """The error a locked SIM gives an ME command (+CME) or an SMS command (+CMS)."""
        if self.sim is SimState.READY:
            return None
        cme, cms = SIM_ERRORS[self.sim]
        return self.cms(cms) if sms else self.cme(cme)

    def _build_handlers(self) -> dict[str, Handler]:
        profile = self._profile
        return {
            "": Handler(exec=lambda: OK),
            "E": Handler(exec=lambda: self._echo(0), set=lambda ps: self._echo(one_int(ps, 0, 1))),
            "I": Handler(
                exec=lambda: Reply((profile.manufacturer, profile.model, profile.firmware))
            ),
            "+CGMI": Handler(exec=lambda: Reply((profile.manufacturer,))),
            "+CGMM": Handler(exec=lambda: Reply((profile.model,))),
            "+CGMR": Handler(exec=lambda: Reply((profile.firmware,))),
            "+CGSN": Handler(exec=lambda: Reply((profile.imei,))),
            "+CCID": Handler(exec=self._iccid, read=self._iccid),
            "+CIMI": Handler(exec=self._imsi),
            "+CSQ": Handler(exec=self._signal, test="+CSQ: (0-31,99),(0-7,99)"),
            "+CMEE": self._int_setting("+CMEE", "cmee", CMEE_VERBOSE),
            "+CMGF": self._int_setting("+CMGF", "cmgf", 1),
            "+CMMS": self._int_setting("+CMMS", "cmms", 2),
            "+CPIN": Handler(read=self._pin_state, set=self._enter_pin),
            "+CSCS": Handler(
                read=lambda: Reply((f'+CSCS: "{self.settings.charset}"',)),
                set=self._select_charset,
                test="+CSCS: (" + ",".join(f'"{c}"' for c in Charset) + ")",
            ),
            "+CSMP": self.tuple_setting(
                "+CSMP", "csmp", (OCTET_MAX,) * CSMP_FIELDS, changed=self._csmp_changed
            ),
            "+CSCA": Handler(read=self._smsc_address, set=self._set_smsc),
        }

    def _int_setting(self, name: str, field: str, high: int) -> Handler:
        """A ``name=<0..high>`` setting kept in ``Settings.<field>``, with its ? and =? forms."""

        def read_value() -> Reply:
            return Reply((f"{name}: {getattr(self.settings, field)}",))

        def set_value(params: tuple[Param, ...]) -> Reply:
            setattr(self.settings, field, one_int(params, 0, high))
            return OK

        return Handler(read=read_value, set=set_value, test=f"{name}: (0-{high})")

    def tuple_setting(
        self,
        name: str,
        field: str,
        limits: tuple[int, ...],
        *,
        changed: Callable[[], None] | None = None,
        test: str = "",
    ) -> Handler:
        """A ``name=<a>[,<b>...]`` setting of integers 0..limit kept in ``Settings.<field>``."""

        def read_values() -> Reply:
            return Reply((f"{name}: {','.join(map(str, getattr(self.settings, field)))}",))

        def set_values(params: tuple[Param, ...]) -> Reply:
            setattr(self.settings, field, ints(params, getattr(self.settings, field), limits))
            if changed is not None:
                changed()
            return OK

        return Handler(read=read_values, set=set_values, test=test)

    def _echo(self, value: int) -> Reply:
        self.settings.echo = bool(value)
        return OK

    def _iccid(self) -> Reply:
        if self.sim is SimState.ABSENT:  # a locked SIM's ICCID is readable, a missing one's not
            return self.cme(CmeError.SIM_NOT_INSERTED)
        return Reply((f"+CCID: {self._profile.iccid}",))

    def _imsi(self) -> Reply:
        return self.sim_error(sms=False) or Reply((self._profile.imsi,))

    def _signal(self) -> Reply:
        return Reply((f"+CSQ: {self.rssi},99",))

    def _pin_state(self) -> Reply:
        if self.sim is SimState.ABSENT:
            return self.cme(CmeError.SIM_NOT_INSERTED)
        final = None if self._profile.cpin_without_ok else "OK"
        return Reply((f"+CPIN: {self.sim.value}",), final=final)

    def _enter_pin(self, params: tuple[Param, ...]) -> Reply:
        if len(params) != 1:
            raise ValueError("AT+CPIN=<pin> takes one parameter")
        if self.sim is SimState.ABSENT:
            return self.cme(CmeError.SIM_NOT_INSERTED)
        if self.sim is SimState.PUK:
            return self.cme(CmeError.SIM_PUK_REQUIRED)
        if self.sim is SimState.READY:
            return self.cme(CmeError.OPERATION_NOT_ALLOWED)
        if params[0].text == self.sim_pin:
            self.sim = SimState.READY
            log.info("%s: SIM unlocked", self._name)
            return OK
        self._pin_attempts_left -= 1
        if self._pin_attempts_left == 0:
            self.sim = SimState.PUK
            log.warning("%s: SIM blocked after %d wrong PINs", self._name, PIN_ATTEMPTS)
        return self.cme(CmeError.INCORRECT_PASSWORD)

    def _select_charset(self, params: tuple[Param, ...]) -> Reply:
        if len(params) != 1 or not params[0].quoted:
            raise ValueError("AT+CSCS takes one quoted charset")
        self.settings.charset = Charset(params[0].text.upper())
        return OK

    def _csmp_changed(self) -> None:
        if self._profile.wipes_smsc_on_csmp:
            self.smsc = ""

    def _smsc_address(self) -> Reply:
        toa = TOA_INTERNATIONAL if self.smsc.startswith("+") else TOA_UNKNOWN
        address = encode_te_string(self.smsc, self.settings.charset)
        return self.sim_error(sms=True) or Reply((f'+CSCA: "{address}",{toa}',))

    def _set_smsc(self, params: tuple[Param, ...]) -> Reply:
        blocked = self.sim_error(sms=True)
        if blocked is None:
            self.smsc = quoted_number(params, self.settings.charset)
        return blocked or OK
