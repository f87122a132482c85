"""One SMS part submitted with AT+CMGS in PDU mode, and what its answer means for the job.

``submit`` runs the exchange on the driver's ``AtPort`` and turns every way it can end into an
MR or a ``SendError`` that says whether the network may have the message (outcome known) and
whether another try is safe (transient). A lost SMSC (+CMS ERROR: 330, some firmware wipes it
on AT+CSMP) is restored once and the part submitted again: nothing went out the first time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modemd.at import commands as at
from modemd.at.results import ErrorClass, FinalKind, classify_cms
from modemd.drivers.at_port import AtPort, Lead
from modemd.errors import (
    DeviceError,
    ModemCommandError,
    NoFinalResultError,
    NoPromptError,
    SendError,
)

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 5.0  # Quectel/SIMCom list 300 ms for most commands; 5 s covers slow firmware
PROMPT_TIMEOUT_S = 10.0  # "> " normally follows AT+CMGS within ~100 ms; before it nothing is sent
CMGS_TIMEOUT_S = 120.0  # Quectel UGxx AT manual 9.8: max response time "determined by network"
WAKE_TIMEOUT_S = 2.0  # "AT" is answered in milliseconds by a live modem
REGISTRATION_TIMEOUT_S = 60.0  # time to wait for +CREG stat 1/5 at open
SMSC_UNKNOWN = 330  # +CMS ERROR: 330, SMSC address unknown (after a CSMP wiped it)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The driver's timeouts; tests and slow links inject their own."""

    command_s: float = COMMAND_TIMEOUT_S
    prompt_s: float = PROMPT_TIMEOUT_S
    cmgs_s: float = CMGS_TIMEOUT_S
    registration_s: float = REGISTRATION_TIMEOUT_S
    wake_s: float = WAKE_TIMEOUT_S


DEFAULT_TIMEOUTS = Timeouts()


async def submit(
    port: AtPort,
    tpdu_length: int,
    hex_pdu: str,
    *,
    timeouts: Timeouts,
    smsc: str | None,
    before_body: Callable[[], bool] | None,
    lead: Lead | None = None,
    trail: Callable[[], Sequence[Lead]] = tuple,
) -> int:
    """Submit one part; its TP-MR, else ``SendError``. ``lead``: a command just before it, in
    its turn (``AtPort.exchange``); ``trail()``: commands right after its final result."""
    result = await _submit_once(port, tpdu_length, hex_pdu, timeouts, before_body, lead, trail())
    if isinstance(result, ModemCommandError) and result.code == SMSC_UNKNOWN and smsc:
        log.warning("%s: SMSC lost (+CMS ERROR: 330), restoring %s", port.port, smsc)
        try:
            await port.command(at.set_smsc(smsc))
        except DeviceError as exc:  # the second try says what is wrong
            log.warning("%s: cannot restore the SMSC: %s", port.port, exc)
        result = await _submit_once(
            port, tpdu_length, hex_pdu, timeouts, before_body, trail=trail()
        )
    if isinstance(result, int):
        return result
    raise SendError(
        f"{port.port}: {result.result}",
        outcome_known=True,
        transient=classify_cms(result.code) is ErrorClass.TRANSIENT,
        code=result.code,
    )


async def _submit_once(
    port: AtPort,
    tpdu_length: int,
    hex_pdu: str,
    timeouts: Timeouts,
    before_body: Callable[[], bool] | None,
    lead: Lead | None = None,
    trail: Sequence[Lead] = (),
) -> int | ModemCommandError:
    """One CMGS; the MR, or the modem's error result. Raises ``SendError`` otherwise."""
    command = at.cmgs_pdu(tpdu_length)
    try:
        tx = await port.exchange(
            command,
            hex_pdu.encode("ascii"),
            prompt_timeout=timeouts.prompt_s,
            final_timeout=timeouts.cmgs_s,
            before_body=before_body,
            lead=lead,
            trail=trail,
        )
    except NoPromptError as exc:  # nothing of the PDU went out
        raise SendError(str(exc), outcome_known=True, transient=True) from exc
    except NoFinalResultError as exc:  # after Ctrl-Z the modem completes the send alone
        raise SendError(str(exc), outcome_known=False, transient=False) from exc
    assert tx.final is not None
    if tx.final.kind is not FinalKind.OK:  # an error instead of the prompt, or after it
        return ModemCommandError(command.text, tx.final.text, tx.final.code)
    mr = at.parse_message_reference(tx.responses)
    if mr is None:
        raise SendError(f"{port.port}: OK without +CMGS", outcome_known=False, transient=False)
    return mr
