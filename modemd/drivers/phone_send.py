"""A message queued on the phone, from ``Pending`` to the radio: polled until the app says
``Processed`` (handed to Android, like ``+CMGS``), or given up and cancelled while still
``Pending`` (then nothing went out)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from modemd.drivers.phone_client import SmsGateClient
from modemd.errors import SendError

from .phone_protocol import (
    DELIVERED,
    FAILED,
    KNOWN_STATES,
    PROCESSED,
    SENT,
    TRANSIENT_APP_ERRORS,
    PhoneRequestError,
    PhoneTimings,
    app_result,
    recipient_state,
)

log = logging.getLogger(__name__)


async def await_processed(
    http: SmsGateClient,
    message_id: str,
    parts: int,
    timings: PhoneTimings,
    closed: Callable[[], bool],
) -> str:
    """Poll until the radio has the message; the state seen (Processed or later)."""
    deadline = time.monotonic() + timings.processed_s
    seen: set[str | None] = set()
    while True:
        try:
            _, data, _ = await http.request("GET", f"/messages/{message_id}")
            state, error = recipient_state(data)
        except PhoneRequestError as exc:
            if closed():
                raise SendError(
                    f"{exc}; the phone had accepted {message_id}",
                    outcome_known=False,
                    transient=False,
                ) from exc
            state, error = None, None
        if state in (PROCESSED, SENT, DELIVERED):
            return str(state)
        if state in (FAILED, "Cancelled"):
            raise SendError(
                f"{http.url}: {message_id}: {state} ({error or 'no reason given'})",
                outcome_known=True,
                transient=state == "Cancelled"
                or (app_result(error) in TRANSIENT_APP_ERRORS and parts == 1),
            )
        if state not in KNOWN_STATES and state not in seen and state is not None:
            log.warning("%s: %s: unknown state %r, still waiting", http.url, message_id, state)
        seen.add(state)
        if time.monotonic() > deadline:
            raise await _give_up(http, message_id, timings)
        await asyncio.sleep(timings.send_poll_s)


async def _give_up(http: SmsGateClient, message_id: str, timings: PhoneTimings) -> SendError:
    """Not processed in time: cancel it if still Pending (then nothing went out)."""
    waited = f"not processed in {timings.processed_s} s"
    try:
        await http.request("DELETE", f"/messages/{message_id}")
    except PhoneRequestError as exc:
        return SendError(
            f"{http.url}: {message_id} {waited}; cancel failed: {exc}",
            outcome_known=False,
            transient=False,
        )
    return SendError(
        f"{http.url}: {message_id} {waited}; cancelled", outcome_known=True, transient=True
    )
