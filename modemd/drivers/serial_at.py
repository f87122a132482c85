"""A GSM modem on a serial port: identity, SIM, registration, sending, status reports.

The driver holds an ``AtPort`` (non-blocking I/O on the loop, one command in flight, timeouts,
the ``> `` prompt) and knows what the commands mean.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable

from modemd.at import commands as at
from modemd.at.parser import Urc
from modemd.at.results import sim_problem
from modemd.at.transaction import Command
from modemd.drivers import modem_resets, modem_send
from modemd.drivers.at_port import ESC, AtPort
from modemd.drivers.base import InboundHandler, PhaseHandler, ReportHandler
from modemd.drivers.modem_inbox import MULTIPART_TIMEOUT_S
from modemd.drivers.modem_messages import ModemMessages
from modemd.drivers.modem_send import DEFAULT_TIMEOUTS, Timeouts
from modemd.drivers.modem_sim import SimPin, SimUnlock
from modemd.drivers.registration import RegistrationTracker
from modemd.errors import (
    DeviceTimeoutError,
    ModemCommandError,
    PortClosedError,
    SendError,
    SimLockedError,
)
from modemd.model import DeviceInfo, DeviceKind, DeviceState, RadioStatus, Registration, SentPart
from modemd.sms.pdu import build_submit_pdus

log = logging.getLogger(__name__)

Ask = Callable[[Command], Awaitable[list[str] | None]]  # an optional command's answer, or None


WAKE_ATTEMPTS = 3  # "AT" tries at open: the first may meet a half-typed line or autobaud
REGISTRATION_POLL_S = 1.0  # how often AT+CREG? is asked while searching
ESC_SETTLE_S = 0.2  # a modem left in a CMGS body answers ESC with OK within ms: let it pass
# What the first open put off waits for the worker to have idled this long: a job that comes
# just after it idles (one given back at a backlog's end, the next API send) goes first.
IDENTIFY_IDLE_S = 1.0


class SerialAtDriver:
    """One modem on one serial port."""

    def __init__(
        self,
        port: str,
        pin: str,
        *,
        sim_pin: SimPin | None = None,
        on_report: ReportHandler | None = None,
        on_gone: Callable[[str], None] | None = None,
        on_phase: PhaseHandler | None = None,
        on_inbound: InboundHandler | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        multipart_timeout_s: float = MULTIPART_TIMEOUT_S,
    ) -> None:
        self._at = AtPort(port, timeouts.command_s, on_urc=self._on_urc, on_lost=self._lost)
        self._messages = ModemMessages(
            self._at,
            lambda: self._info.device_id,
            on_report,
            on_inbound,
            multipart_timeout_s=multipart_timeout_s,
        )
        self.timeouts = timeouts
        self.pin = pin
        self._sim = SimUnlock(sim_pin)
        self._on_gone = on_gone
        self._on_phase = on_phase
        self._info = DeviceInfo(device_id="", pin=pin, kind=DeviceKind.MODEM, port=port)
        self._signal: int | None = None
        self._smsc: str | None = None
        self._stored_reports = False  # reports routed to storage (+CDSI), not as +CDS
        self._concat_ref = random.randrange(256)  # 23.040 concatenation reference, per message
        self.registration = RegistrationTracker()  # fed by +CxREG URCs and read answers
        self.operator: str | None = None  # AT+COPS? long name, None when not registered
        self.own_number: str | None = None  # AT+CNUM, None when the SIM does not know it
        self.on_submit: Callable[[], bool] | None = None  # base.SubmitAware
        self.identify_later = False  # base.IdentifiesLater: set by a bank opening many at once
        self._put_off = False  # the first open put off what sending does not need
        self._idle = asyncio.Event()  # the worker idles (``tidy``) until the next send
        self._idle_since = 0.0  # monotonic time it began to
        self.identify_idle_s = IDENTIFY_IDLE_S  # tests inject their own

    @property
    def info(self) -> DeviceInfo:
        return self._info

    @property
    def signal(self) -> int | None:
        return self._signal

    @property
    def closed(self) -> bool:
        return self._at.closed

    @property
    def port(self) -> str:
        """The tty path: unstable, the next open may find another device behind it."""
        return self._at.port

    @port.setter
    def port(self, path: str) -> None:
        self._at.port = path

    def open_port(self) -> None:
        """Open the port without a word to the modem (probing); ``open`` also initialises."""
        self._at.open_port()

    async def command(self, command: Command, timeout: float | None = None) -> list[str]:
        """Run one command; its response lines, or ``ModemCommandError``."""
        return await self._at.command(command, timeout)

    async def open(self) -> DeviceInfo:
        """Open the port, initialise the modem, and return its identity."""
        self.open_port()
        try:
            self._info = await self._initialise()
        except ModemCommandError as exc:
            await self.close()
            problem = sim_problem(exc.code, exc.result)
            if problem is None:
                raise
            raise SimLockedError(exc.command, exc.result, exc.code, problem) from exc
        except BaseException:
            await self.close()
            raise
        return self._info

    async def close(self) -> None:
        """Stop reading and close the port; idempotent."""
        self._idle.set()  # what waits for an idle moment learns the port closed
        self._at.close()
        await self._messages.close()

    def _lost(self) -> None:
        if self._on_gone is not None:
            self._on_gone(self._info.device_id)

    def _on_urc(self, urc: Urc) -> None:
        registration = at.parse_registration_urc(urc.text)
        if registration is not None:
            log.info("%s: %s stat %d", self.port, *registration)
            self.registration.update(*registration)
            return
        if not self._messages.on_urc(urc):
            log.debug("%s: URC %r", self.port, urc.text)

    async def _wake(self, attempts: int = WAKE_ATTEMPTS, settle_s: float = 0.0) -> None:
        """ESC aborts a half-typed CMGS left by a crash; then AT until it answers.

        ``settle_s``: wait after ESC so an OK it draws is not taken for the answer to AT."""
        self._at.write(ESC)
        if settle_s > 0:
            await asyncio.sleep(settle_s)
        last: Exception | None = None
        for _ in range(attempts):
            try:
                await self.command(at.AT, timeout=self.timeouts.wake_s)
                return
            except (DeviceTimeoutError, ModemCommandError) as exc:
                last = exc
        raise DeviceTimeoutError(f"{self.port}: modem does not answer AT ({last})")

    async def _optional(self, command: Command) -> list[str] | None:
        try:
            return await self.command(command)
        except ModemCommandError as exc:
            log.info("%s: %s not supported (%s)", self.port, command.text, exc.result)
            return None

    def _phase(self, state: DeviceState) -> None:
        if self._on_phase is not None:
            self._on_phase(state)

    async def _wait_registered(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.registration_s
        while True:
            registration = await self.check_registration()
            if registration.registered:
                return
            if loop.time() > deadline:
                raise DeviceTimeoutError(f"{self.port}: not registered ({registration.why})")
            await asyncio.sleep(REGISTRATION_POLL_S)

    async def _initialise(self, *, wait_network: bool = True) -> DeviceInfo:
        # The first open of a bank's start-up leaves what sending does not need for later.
        later = self._put_off = wait_network and self.identify_later
        await self._wake(settle_s=0.0 if wait_network else ESC_SETTLE_S)
        self._phase(DeviceState.IDENTIFYING)
        await self._set_up_line()
        manufacturer = model = imsi = ""
        if not later:
            manufacturer, model = await self._maker_model(self._optional)
        imei = at.first_value(await self.command(at.IMEI))
        # The ICCID is readable on a locked SIM on most modems: it selects the SIM PIN.
        iccid = at.first_value(await self._optional(at.ICCID) or [])
        await self._sim.unlock(self, iccid)
        if not later:
            imsi = at.first_value(await self._optional(at.IMSI) or [])
        iccid = iccid or at.first_value(await self._optional(at.ICCID) or [])
        self._phase(DeviceState.SEARCHING_NETWORK)
        for domain in at.REGISTRATION_DOMAINS:  # losing the network is then seen at once
            if await self._optional(at.registration_urcs_on(domain)) is not None:
                self.registration.supported(domain)
        if wait_network:
            await self._wait_registered()
        await self.command(at.PDU_MODE)
        self._smsc = at.parse_smsc(await self._optional(at.SMSC) or [])
        await self._messages.choose_storage()
        reports, self._stored_reports = await self._messages.route()
        if self._stored_reports:
            await self._messages.keep_reports_apart()
        await self._optional(at.KEEP_LINK_OPEN)
        if not later:
            await self._radio_details(self._optional)
        info = DeviceInfo(
            device_id=imei or self.port,
            pin=self.pin,
            kind=DeviceKind.MODEM,
            port=self.port,
            manufacturer=manufacturer,
            model=model,
            imsi=imsi,
            iccid=iccid,
            reports=reports,
        )
        log.info(
            "%s: ready: %s %s IMEI %s (status reports: %s)",
            self.port,
            manufacturer,
            model,
            info.device_id,
            "yes" if reports else "no: AT+CNMI refused",
        )
        self._info = info
        self._messages.identified()
        if self._reads_storage:
            await self._messages.read_stored()  # those that came while nobody was listening
        return info

    async def _maker_model(self, ask: Ask) -> tuple[str, str]:
        manufacturer = at.first_value(await ask(at.MANUFACTURER) or [])
        return manufacturer, at.first_value(await ask(at.MODEL) or [])

    async def _radio_details(self, ask: Ask) -> None:
        """Signal, own number, operator: shown, never needed to send."""
        self._signal = at.parse_signal(await ask(at.SIGNAL) or [])
        self.own_number = at.parse_own_number(await ask(at.OWN_NUMBER) or [])
        if await ask(at.OPERATOR_FORMAT_LONG) is not None:
            self.operator = at.parse_operator(await ask(at.OPERATOR) or [])

    async def identify_rest(self) -> DeviceInfo:
        """What the first open put off (``identify_later``): maker, model, IMSI and the radio's
        details, each while the modem idles (``tidy``: no job waits, never between two sends
        of a backlog); the identity with them."""
        if not self._put_off:
            return self._info
        self._put_off = False
        manufacturer, model = await self._maker_model(self._when_idle)
        imsi = at.first_value(await self._when_idle(at.IMSI) or [])
        self._info = dataclasses.replace(
            self._info, manufacturer=manufacturer, model=model, imsi=imsi
        )
        await self._radio_details(self._when_idle)
        return self._info

    async def _when_idle(self, command: Command) -> list[str] | None:
        """``command`` once the worker has idled ``identify_idle_s`` (no send meanwhile)."""
        while True:
            await self._idle.wait()  # set by ``close`` too: then the command meets a closed port
            idled = time.monotonic() - self._idle_since
            if idled >= self.identify_idle_s or self.closed:
                break
            await asyncio.sleep(self.identify_idle_s - idled)  # then looked at again
        return await self._optional(command)

    @property
    def _reads_storage(self) -> bool:
        return self._stored_reports or self._messages.inbox is not None

    async def _set_up_line(self) -> None:
        """Echo off, numeric errors: what every (re)opened session needs first."""
        await self.command(at.ECHO_OFF)
        await self.command(at.ERRORS_NUMERIC)

    async def reopen(self) -> str:
        """Close the port, open it again and start over (``restart``); return the IMEI."""
        if self.closed:
            raise PortClosedError(f"{self.port}: port is closed")
        await self._at.reopen()  # a command in flight finishes (or times out) first
        return await self.restart()

    async def restart(self) -> str:
        """After a reopen or a reset, everything open does again (ESC + AT, identity, the SIM
        and its PIN, SMSC, report routing, stored reports and messages) except waiting for the
        network; return the IMEI it answers with. A caller that finds another IMEI must drop
        the device: this driver then keeps its old identity."""
        known = self._info
        info = await self._initialise(wait_network=False)
        if known.device_id and info.device_id != known.device_id:
            self._info = known
        return info.device_id

    async def send_sms(self, to: str, text: str, *, job_id: str = "") -> list[SentPart]:
        """Submit every part with AT+CMGS in PDU mode (``job_id`` unused: the modem gives each
        part its TP-MR); raise ``SendError`` on failure."""
        self._idle.clear()
        self._concat_ref = (self._concat_ref + 1) & 0xFF
        pdus = build_submit_pdus(
            to, text, request_status_report=self._info.reports, concat_ref=self._concat_ref
        )
        sent: list[SentPart] = []
        for pdu in pdus:
            started = time.monotonic()
            try:
                lead = await self._messages.before_send()  # the rest waits (read_turns)
                started = time.monotonic()
                mr = await modem_send.submit(
                    self._at,
                    pdu.tpdu_length,
                    pdu.hex,
                    timeouts=self.timeouts,
                    smsc=self._smsc,
                    before_body=self.on_submit,
                    lead=lead,
                    trail=self._messages.trail,
                )
            except SendError as exc:
                exc.sent_parts = len(sent)
                if sent:
                    # Earlier parts are out: resending the message would duplicate them.
                    exc.transient = False
                raise
            finally:
                self._messages.after_send(time.monotonic() - started)
            sent.append(SentPart(part=pdu.part, mr=mr))
        return sent

    async def tidy(self) -> None:
        """Idle until the next send: free the stored messages read and committed (``base.Tidy``)."""
        if not self._idle.is_set():
            self._idle_since = time.monotonic()
            self._idle.set()
        await self._messages.tidy()

    def ready_in_s(self) -> float:
        """A modem has no rate limit of its own (pacing from config is the worker's)."""
        return 0.0

    async def probe(self, attempts: int = WAKE_ATTEMPTS) -> bool:
        """ESC then AT (``attempts`` times at most): True when the modem answers."""
        if self.closed:
            return False
        try:
            await self._wake(attempts)
        except (DeviceTimeoutError, PortClosedError):
            return False
        return True

    async def catch_up(self) -> None:
        """Read what the modem stored while it did not answer (status reports, messages)."""
        if self._reads_storage:
            await self._messages.read_stored()

    async def reset_radio(self, timeout_s: float) -> str:
        """AT+CFUN=0, AT+CFUN=1, then start over (``modem_resets``); the IMEI."""
        return await modem_resets.reset_radio(self, timeout_s)

    async def reset_module(self, timeout_s: float, boot_s: float) -> str:
        """AT+CFUN=1,1, boot, then start over (``modem_resets``); the IMEI."""
        return await modem_resets.reset_module(self, timeout_s, boot_s)

    async def check_registration(self) -> Registration:
        """Ask AT+CREG? (and +CGREG?, +CEREG? where supported): registered when any domain
        says 1 (home) or 5 (roaming)."""
        for domain in self.registration.domains:
            answer = await self.command(at.registration_query(domain))
            self.registration.update(domain, at.parse_registration(answer))
        return at.registration_of(self.registration.stat)

    async def check_operator(self) -> str | None:
        """Ask AT+COPS?; remember and return the operator's name (None: not registered)."""
        answer = await self._optional(at.OPERATOR)
        self.operator = at.parse_operator(answer or [])
        return self.operator

    async def radio_status(self) -> RadioStatus:
        """Operator (asked now), registration (as last seen), own number (read at open)."""
        return RadioStatus(await self.check_operator(), self.registration.words, self.own_number)

    async def check_signal(self) -> int | None:
        """Ask AT+CSQ; remember and return rssi."""
        self._signal = at.parse_signal(await self.command(at.SIGNAL))
        return self._signal
