"""The emulated modem's radio, sans-IO: power (AT+CFUN), operator (AT+COPS), the SIM's own
number (AT+CNUM) and registration in three domains with their URCs (27.007 7.2, 7.3, 8.2,
10.1.20): +CREG circuit, +CGREG packet, +CEREG LTE (an LTE-only modem registers only there)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .modem_at import OK, CmeError, Param, Reply
from .modem_commands import TOA_INTERNATIONAL, TOA_UNKNOWN, Handler, ModemCommands, SimState
from .profile import TEST_PLMN, ModemProfile

log = logging.getLogger(__name__)

FUN_OFF, FUN_ON, FUN_AIRPLANE = 0, 1, 4  # AT+CFUN=<fun>: minimum, full, radio off (SIM kept)
RESET_FIRST = 1  # AT+CFUN=<fun>,1: reset the module before setting <fun>
COPS_AUTOMATIC, COPS_MANUAL, COPS_DEREGISTER, COPS_FORMAT_ONLY = 0, 1, 2, 3
COPS_FORMATS = 2  # <format>: 0 long alphanumeric, 1 short alphanumeric, 2 numeric
ACT_GSM, ACT_EUTRAN = 0, 7  # <AcT> of +COPS and +CxREG
URC_MODES = 2  # +CxREG=<n>: 0 no URC, 1 <stat>, 2 <stat> with location
REGISTERED = frozenset({1, 5})  # home, roaming
EMULATED_AREA = "00A1"  # <lac>/<tac> of +CxREG: 2,<stat>,"<lac>","<ci>",<AcT>
EMULATED_CELL = "0000ABCD"  # <ci>
DOMAINS = {"+CREG": "creg", "+CGREG": "cgreg", "+CEREG": "cereg"}  # command -> Settings field

CfunHook = Callable[[int, bool], None]  # (fun, reset first)


class Radio:
    """Power level, operator selection and what each registration domain says."""

    def __init__(
        self,
        commands: ModemCommands,
        profile: ModemProfile,
        *,
        reset: Callable[[], None],
        urc: Callable[[str], None],
    ) -> None:
        self._commands = commands
        self._profile = profile
        self._reset = reset  # the module reboots (AT+CFUN=<fun>,1)
        self._urc = urc  # write one unsolicited line
        self.fun = FUN_ON
        self.cops_mode = COPS_AUTOMATIC
        self.cops_format = 0
        self.on_cfun: list[CfunHook] = []  # faults that a CFUN clears

    def handlers(self) -> dict[str, Handler]:
        """AT+CFUN, AT+COPS, AT+CNUM, AT+CREG, AT+CGREG, AT+CEREG."""
        handlers = {
            "+CFUN": Handler(
                read=lambda: Reply((f"+CFUN: {self.fun}",)),
                set=self._set_fun,
                test=f"+CFUN: ({FUN_OFF},{FUN_ON},{FUN_AIRPLANE}),(0,{RESET_FIRST})",
            ),
            "+COPS": Handler(
                read=self._operator, set=self._select_operator, test=self._cops_test()
            ),
            "+CNUM": Handler(exec=self._own_number),
        }
        for domain in DOMAINS:
            handlers[domain] = self._registration_handler(domain)
        return handlers

    def _registration_handler(self, domain: str) -> Handler:
        return Handler(
            read=lambda: self._read_registration(domain),
            set=lambda params: self._set_urc_mode(domain, params),
            test=f"{domain}: (0-{URC_MODES})",
        )

    def stat(self, domain: str) -> int:
        """<stat> of ``domain`` now: 0 with the radio off, the SIM locked or deregistered."""
        if (
            self.fun != FUN_ON
            or self.cops_mode == COPS_DEREGISTER
            or self._commands.sim is not SimState.READY
            or (self._profile.lte_only and domain != "+CEREG")
        ):
            return 0
        return self._commands.registration

    def stats(self) -> dict[str, int]:
        """The <stat> of each domain whose URCs the host enabled: take it before a change,
        give it to ``announce`` after (none enabled, as mostly: nothing to look at)."""
        settings = self._commands.settings
        return {d: self.stat(d) for d, field in DOMAINS.items() if getattr(settings, field)}

    def registered(self) -> bool:
        """Any domain says home or roaming: SMS can go out."""
        return any(self.stat(domain) in REGISTERED for domain in DOMAINS)

    def announce(self, before: dict[str, int]) -> None:
        """A +CxREG URC for each domain whose <stat> changed, where the host enabled it."""
        settings = self._commands.settings
        for domain, stat in before.items():
            mode = getattr(settings, DOMAINS[domain])
            if mode and self.stat(domain) != stat:
                self._urc(f"{domain}: {self._registration_fields(domain, mode)}")

    def set_network(self, stat: int) -> None:
        """The network registers (1, 5) or drops (0, 2, 3, 4) the modem; URCs say so."""
        before = self.stats()
        self._commands.registration = stat
        self.announce(before)

    # -- registration ----------------------------------------------------------------------

    def _act(self) -> int:
        return ACT_EUTRAN if self._profile.lte_only else ACT_GSM

    def _registration_fields(self, domain: str, mode: int) -> str:
        stat = self.stat(domain)
        if mode == URC_MODES and stat in REGISTERED:
            return f'{stat},"{EMULATED_AREA}","{EMULATED_CELL}",{self._act()}'
        return str(stat)

    def _read_registration(self, domain: str) -> Reply:
        mode = getattr(self._commands.settings, DOMAINS[domain])
        return Reply((f"{domain}: {mode},{self._registration_fields(domain, mode)}",))

    def _set_urc_mode(self, domain: str, params: tuple[Param, ...]) -> Reply:
        if len(params) != 1:
            raise ValueError(f"{domain}=<n> takes one parameter")
        setattr(self._commands.settings, DOMAINS[domain], params[0].as_int(0, URC_MODES))
        return OK

    # -- power -----------------------------------------------------------------------------

    def _set_fun(self, params: tuple[Param, ...]) -> Reply:
        if not 1 <= len(params) <= 2:
            raise ValueError("AT+CFUN=<fun>[,<rst>]")
        fun = params[0].as_int(FUN_OFF, FUN_AIRPLANE)
        if fun not in (FUN_OFF, FUN_ON, FUN_AIRPLANE):
            raise ValueError(f"unsupported <fun> {fun}")
        reset = len(params) == 2 and params[1].as_int(0, RESET_FIRST) == RESET_FIRST
        if reset:
            log.info("module reset (AT+CFUN=%d,1)", fun)
            self._reset()
            self.cops_mode, self.cops_format = COPS_AUTOMATIC, 0
        self.fun = fun
        for hook in list(self.on_cfun):
            hook(fun, reset)
        return OK

    # -- operator --------------------------------------------------------------------------

    def _names(self) -> tuple[str, str, str]:
        return (self._profile.operator, self._profile.operator_short, TEST_PLMN)

    def _cops_test(self) -> str:
        long, short, numeric = self._names()
        return f'+COPS: (2,"{long}","{short}","{numeric}",{self._act()}),,(0-4),(0-2)'

    def _operator(self) -> Reply:
        if not self.registered():
            return Reply((f"+COPS: {self.cops_mode}",))
        name = self._names()[self.cops_format]
        return Reply((f'+COPS: {self.cops_mode},{self.cops_format},"{name}",{self._act()}',))

    def _select_operator(self, params: tuple[Param, ...]) -> Reply:
        if not 1 <= len(params) <= 4:
            raise ValueError("AT+COPS=<mode>[,<format>[,<oper>[,<AcT>]]]")
        mode = params[0].as_int(COPS_AUTOMATIC, COPS_FORMAT_ONLY)
        if len(params) >= 2 and params[1].text:
            self.cops_format = params[1].as_int(0, COPS_FORMATS)
        if mode == COPS_FORMAT_ONLY:
            return OK
        if mode == COPS_MANUAL and (len(params) < 3 or params[2].text not in self._names()):
            return self._commands.cme(CmeError.OPERATION_NOT_ALLOWED)
        self.cops_mode = COPS_AUTOMATIC if mode == COPS_MANUAL else mode
        return OK

    def _own_number(self) -> Reply:
        blocked = self._commands.sim_error(sms=False)
        if blocked is not None:
            return blocked
        number = self._profile.own_number
        if not number:
            return OK  # the SIM does not know its number: no +CNUM line
        toa = TOA_INTERNATIONAL if number.startswith("+") else TOA_UNKNOWN
        return Reply((f'+CNUM: "","{number}",{toa}',))
