"""The emulated modem's AT line discipline, sans-IO: bytes in, bytes out, submissions out.

What the network delivers is routed as AT+CNMI says (``modem_routing``). URCs follow the CNMI
mode: 0 keeps them buffered, 1 drops them while the link is reserved (after the "> " prompt),
2 and 3 buffer them there and flush them when the body ends.
"""

from __future__ import annotations

import collections
import logging
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .modem_at import (
    BACKSPACE,
    CR,
    CTRL_Z,
    DELETE,
    ESC,
    LF,
    LINE_ENCODING,
    OK,
    CmsError,
    LineState,
    Param,
    Reply,
    frame_line,
)
from .modem_commands import (
    Handler,
    ModemCommands,
    Settings,
    SimState,
    one_int,
    quoted_number,
)
from .modem_memories import REPORTS, Memories
from .modem_radio import Radio
from .modem_routing import (
    CNMI_DS_DIRECT,
    CNMI_DS_STORED,
    CNMI_MT_STORED,
    DirectAcks,
    refusing_routing,
    route_sms,
    route_status_report,
)
from .modem_storage import MessageStorage
from .modem_submit import MAX_TPDU_OCTETS, Refused, Submission, read_pdu, read_text
from .profile import MessageFormat, ModemProfile

log = logging.getLogger(__name__)

MAX_COMMAND_LINE_BYTES = 1024  # longer lines are cut, as a modem's line buffer would
MAX_BODY_BYTES = 1024  # an SMS body longer than this is cut (and then fails validation)
MAX_QUEUED_INPUT_BYTES = 4096  # input waiting while SENDING; more is lost like a full UART FIFO
MAX_DEFERRED_URCS = 32  # CNMI buffer; the oldest URC is dropped when full (27.005 3.4.1)
CNMI_LIMITS = (3, 3, 3, 2, 1)  # highest mode, mt, bm, ds, bfr
CNMI_MODE, CNMI_BFR = 0, 4  # indices in the CNMI tuple
CNMI_MODE_BUFFER, CNMI_MODE_DISCARD_WHEN_RESERVED = 0, 1
# Bytes that end a run of plain input: in a command line, and in an SMS body.
_COMMAND_SPECIAL = re.compile(b"[%c%c%c%c%c%c]" % (CR, LF, ESC, CTRL_Z, BACKSPACE, DELETE))
_BODY_END = re.compile(b"[%c%c]" % (CTRL_Z, ESC))
NOISE_URCS = ('+ZDONR: "Emulated",1,1,"CS_PS","ROAM_OFF"', '+ZPASR: "GPRS"')  # plus ^RSSI


class ModemSession:
    """One modem's AT state machine; its owner moves the bytes and plays the network."""

    def __init__(
        self,
        profile: ModemProfile,
        rng: random.Random,
        *,
        name: str,
        storage_path: Path | None = None,
    ) -> None:
        self._profile = profile
        self._rng = rng
        self._name = name
        self._commands = ModemCommands(profile, name=name)
        self._state = LineState.COMMAND
        self._line = bytearray()
        self._body = bytearray()
        self._input = bytearray()
        self._out = bytearray()
        self._target: int | str = 0  # AT+CMGS argument: TPDU octets (PDU) or number (text)
        self._deferred: collections.deque[bytes] = collections.deque(maxlen=MAX_DEFERRED_URCS)
        self._noise = (f"^RSSI:{profile.rssi}", *NOISE_URCS)
        reset = Handler(exec=self._reset, set=lambda ps: self._reset(one_int(ps, 0, 0)))
        self._commands.register("Z", reset)
        self._commands.register("&F", reset)
        self._commands.register("+CMGS", Handler(set=self._start_send))
        if profile.supports_cnmi:
            ranges = ",".join(f"(0-{high})" for high in CNMI_LIMITS)
            cnmi = self._commands.tuple_setting(
                "+CNMI", "cnmi", CNMI_LIMITS, changed=self._cnmi_changed, test=f"+CNMI: {ranges}"
            )
            refused = {
                CNMI_DS_DIRECT: not profile.cds_direct,
                CNMI_DS_STORED: not profile.cds_stored,
            }
            mt = () if profile.storage_routing else (CNMI_MT_STORED,)
            cnmi = refusing_routing(cnmi, mt, {ds for ds, no in refused.items() if no})
            self._commands.register("+CNMI", cnmi)
        self.storage = self._storage(profile, storage_path)
        apart = profile.report_memory == REPORTS
        reports_path = storage_path.with_suffix(".sr.json") if storage_path else None
        self.memories = Memories(
            self.storage,
            self._storage(profile, reports_path) if apart else None,
            lambda: self._commands.sim_error(sms=True),
        )
        self.acks = DirectAcks(lambda: self._settings, self._commands.cms, self._urc)
        self.acks.phase2plus = profile.phase2plus
        for name, handler in self.acks.handlers().items():
            self._commands.register(name, handler)
        for name, handler in self.memories.handlers().items():
            self._commands.register(name, handler)
        self._radio = Radio(self._commands, profile, reset=self._module_reset, urc=self.unsolicited)
        for name, handler in self._radio.handlers().items():
            self._commands.register(name, handler)
        self.admits: Callable[[str], bool] = lambda _line: True  # a hung firmware drops lines

    def _storage(self, profile: ModemProfile, path: Path | None) -> MessageStorage:
        storage = MessageStorage(self._commands.cms, slots=profile.storage_slots, path=path)
        storage.delete_flags = profile.cmgd_flags
        storage.lists_reports = profile.cmgl_lists_reports
        return storage

    @property
    def state(self) -> LineState:
        """Current line state."""
        return self._state

    @property
    def commands(self) -> ModemCommands:
        """Settings, SIM and radio state (the runtime knobs live there)."""
        return self._commands

    @property
    def radio(self) -> Radio:
        """Power, operator and registration (the network knobs live there)."""
        return self._radio

    @property
    def _settings(self) -> Settings:
        return self._commands.settings

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
        return self._finish_send(self._commands.cms(code))

    def deliver_status_report(self, **report: Any) -> bool:
        """A status report arrives from the network (``modem_routing``); False when the
        memory is full (the network keeps it)."""
        routed = self.acks.route_report
        memories = self.memories
        return route_status_report(
            self._settings,
            memories.reports,
            self._urc,
            memory=memories.report_memory,
            routed=routed,
            **report,
        )

    def deliver_sms(self, hex_pdu: str) -> bool:
        """An SMS-DELIVER arrives from the network; False when not taken (yet): the memory is
        full, or a +CMT waits for AT+CNMA (``acks.on_answer`` tells)."""
        if self.acks.busy:
            return False
        taken = route_sms(self._settings, self.storage, self._urc, hex_pdu)
        return taken and not self.acks.hold(hex_pdu)

    def _set_state(self, new: LineState) -> None:
        """Change the line state; leaving BODY releases the URCs deferred meanwhile."""
        log.debug("%s: line %s -> %s", self._name, self._state.value, new.value)
        old, self._state = self._state, new
        if old is LineState.BODY and self._settings.cnmi[CNMI_MODE] != CNMI_MODE_BUFFER:
            self._flush_deferred()

    # -- bytes in -------------------------------------------------------------------------

    def _drain(self) -> Submission | None:
        """Consume queued input until it runs out or a submission puts the modem in SENDING.

        Plain bytes are taken a run at a time; each special byte (``_COMMAND_SPECIAL``,
        ``_BODY_END``) goes through ``_command_byte`` / ``_body_byte`` as it always did."""
        data = self._input
        pos = 0
        submission = None
        while pos < len(data) and self._state is not LineState.SENDING:
            if self._state is LineState.COMMAND:
                found = _COMMAND_SPECIAL.search(data, pos)
                end = found.start() if found else len(data)
                room = MAX_COMMAND_LINE_BYTES - len(self._line)
                self._line += data[pos : pos + max(0, min(end - pos, room))]
                if found is not None:
                    self._command_byte(data[end])
            else:
                found = _BODY_END.search(data, pos)
                end = found.start() if found else len(data)
                room = MAX_BODY_BYTES - len(self._body)
                self._body += data[pos : pos + max(0, min(end - pos, room))]
                if self._settings.echo:
                    self._out += data[pos:end]
                if found is not None:
                    submission = self._body_byte(data[end])
            pos = end + 1 if found is not None else end
        del data[:pos]
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
        if not self.admits(raw.decode(LINE_ENCODING)):
            return
        if self._settings.echo:
            self._out += raw + b"\r"
        text = raw.decode(LINE_ENCODING).strip()
        if not text:
            return
        before = self._radio.stats()
        reply = self._commands.execute(text)
        self._out += reply.render()
        self._radio.announce(before)
        if reply.prompt:
            self._set_state(LineState.BODY)

    # -- commands that touch the line ----------------------------------------------------

    def _reset(self, _stored_profile: int = 0) -> Reply:
        """ATZ / AT&F: default settings (the SIM stays unlocked, the SMSC stays as set)."""
        self._commands.settings = Settings()
        self._deferred.clear()
        return OK

    def _module_reset(self) -> None:
        """AT+CFUN=<fun>,1: the module reboots: default settings, nothing buffered, and a SIM
        with a PIN wants it again."""
        self._reset()
        self._commands.set_sim(SimState.PIN if self._commands.sim_pin else SimState.READY)

    def unsolicited(self, line: str) -> None:
        """A URC outside AT+CNMI's routing (+CREG ...): now, or after the SMS body."""
        if self._state is LineState.BODY:
            self._deferred.append(frame_line(line))
        else:
            self._out += frame_line(line)

    def _cnmi_changed(self) -> None:
        """A CNMI mode other than 0 releases (bfr=0) or discards (bfr=1) the buffered URCs."""
        if self._settings.cnmi[CNMI_MODE] != CNMI_MODE_BUFFER:
            if self._settings.cnmi[CNMI_BFR] == 0:
                self._flush_deferred()
            self._deferred.clear()

    def _start_send(self, params: tuple[Param, ...]) -> Reply:
        """AT+CMGS: check the SIM and the network, read the argument, then prompt for the body."""
        blocked = self._commands.sim_error(sms=True)
        if blocked:
            return blocked
        if not self._radio.registered():
            return self._commands.cms(CmsError.NO_NETWORK_SERVICE)
        try:
            if self._settings.format is MessageFormat.PDU:
                self._target = one_int(params, 1, MAX_TPDU_OCTETS)
            else:
                self._target = quoted_number(params, self._settings.charset)
        except ValueError:
            return self._commands.cms(self._invalid_parameter)
        self._body.clear()
        self._emit_noise()
        return Reply(final=None, prompt=True)

    @property
    def _invalid_parameter(self) -> CmsError:
        if self._settings.format is MessageFormat.PDU:
            return CmsError.INVALID_PDU_PARAMETER
        return CmsError.INVALID_TEXT_PARAMETER

    # -- sending -------------------------------------------------------------------------

    def _submit(self) -> Submission | None:
        """Ctrl-Z: validate the body; refuse it at once or start SENDING."""
        body = bytes(self._body)
        self._body.clear()
        try:
            if isinstance(self._target, int):
                submission = read_pdu(body, self._target, self._commands.smsc)
            else:
                submission = read_text(body, self._target, self._settings, self._commands.smsc)
        except (ValueError, IndexError, KeyError):
            code: int = self._invalid_parameter
        except Refused as refused:
            code = refused.code
        else:
            self._set_state(LineState.SENDING)
            return submission
        self._out += self._commands.cms(code).render()
        self._set_state(LineState.COMMAND)
        return None

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
