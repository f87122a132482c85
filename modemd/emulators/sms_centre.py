"""The emulated network's side of received SMS: the SMS centre that delivers to one modem.

A text becomes SMS-DELIVER PDUs (concatenated when long); a demo or a test may have the parts
arrive out of order or one part twice, as real networks sometimes do. A PDU the modem cannot
take (its memory is full) waits here and is delivered again when a slot frees, like an SMSC
retrying: a full SIM delays messages, it never loses them. A PDU routed as +CMT in phase 2+
stays here until the host acknowledges it (AT+CNMA); refused or not acknowledged within the
profile's ``cnma_timeout_s``, it is delivered again after ``REDELIVERY_S``.
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from modemd.sms import build_deliver

from .modem_session import ModemSession

REDELIVERY_S = 1.0  # an SMSC retries after minutes; the emulated one after a second


class SmsCentre:
    """Delivers SMS to one emulated modem's session, keeping what does not fit yet."""

    def __init__(
        self,
        session: ModemSession,
        rng: random.Random,
        flush: Callable[[], None],
        *,
        ack_timeout_s: float = 15.0,
    ) -> None:
        self._session = session
        self._ack_timeout_s = ack_timeout_s
        self._timer: asyncio.TimerHandle | None = None  # the +CMT's wait for AT+CNMA, or a retry
        session.acks.on_answer = self._answered
        session.acks.on_free = self.retry
        self._rng = rng
        self._flush = flush  # write what the session produced (the URCs)
        self.waiting: collections.deque[str] = collections.deque()  # PDUs the SIM had no room for
        # Status reports the SIM had no room for (RP-ERROR "memory capacity exceeded"): kept
        # and delivered again once a slot is freed (the ME's RP-SMMA, 24.011), in order.
        self.waiting_reports: collections.deque[dict[str, Any]] = collections.deque()
        self._reference = rng.randrange(256)
        for storage in session.memories.all:
            storage.on_freed = self.retry

    def send(
        self,
        sender: str,
        text: str,
        *,
        out_of_order: bool = False,
        repeat_part: bool = False,
        at: datetime | None = None,
    ) -> list[str]:
        """Deliver ``text`` from ``sender``; the PDUs, in the order they were sent."""
        self._reference = (self._reference + 1) & 0xFF
        pdus = build_deliver(sender, text, scts=at or datetime.now(UTC), concat_ref=self._reference)
        if out_of_order and len(pdus) > 1:
            self._rng.shuffle(pdus)
        if repeat_part:
            pdus.insert(self._rng.randrange(len(pdus) + 1), self._rng.choice(pdus))
        self.waiting.extend(pdus)
        self.retry()
        return pdus

    def report(self, **report: Any) -> None:
        """A status report for the modem: now, or once its memory has room."""
        self.waiting_reports.append(report)
        self.retry()

    def retry(self) -> None:
        """Hand the waiting reports and PDUs to the modem, in order, until its memory is full."""
        while self.waiting_reports and self._session.deliver_status_report(
            **self.waiting_reports[0]
        ):
            self.waiting_reports.popleft()
        while self.waiting and self._session.deliver_sms(self.waiting[0]):
            self.waiting.popleft()
        self.arm()
        self._flush()

    def arm(self) -> None:
        """A +CMT or +CDS waits for AT+CNMA: the modem gives up after the profile's time."""
        if self._session.acks.busy and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._ack_timeout_s, self._ack_timeout)

    def _ack_timeout(self) -> None:
        self._timer = None
        self._session.acks.timed_out()

    def close(self) -> None:
        """Stop the timers (the modem is going away)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _answered(self, taken: bool) -> None:
        """The host acknowledged the +CMT (taken) or not: the next one, or this one later."""
        self.close()
        if taken:
            self.waiting.popleft()
            self.retry()
        else:
            self._timer = asyncio.get_running_loop().call_later(REDELIVERY_S, self._redeliver)

    def _redeliver(self) -> None:
        self._timer = None
        self.retry()
