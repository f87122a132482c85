"""Inbound SMS into conversations: each stored message goes through the engine (in one store
transaction) and its reply, if any, is offered to the pool like any job. A loop releases
replies held by quiet hours and ends survey sessions that timed out, each when its time comes
(it sleeps until the first; a held reply, a survey step or a survey started through the API
wakes it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import phonenumbers

from modemd.conversations.engine import MAX_SHORT_CODE_DIGITS, Decision, Inbound, PoolPolicy
from modemd.runtime.alarm import Alarm, earliest
from modemd.runtime.bank import Bank
from modemd.store import replies, surveys
from modemd.store.conversations import handle
from modemd.store.db import Store

log = logging.getLogger(__name__)

RETRY_S = 30.0  # after a failed round (the database busy or gone), the next try


def international(sender: str, country: str | None) -> str:
    """A national number (digits, longer than a short code) as E.164 with the pool's country,
    so it matches the numbers jobs were sent to; anything else as it is."""
    if country is None or not sender.isdigit() or len(sender) <= MAX_SHORT_CODE_DIGITS:
        return sender
    try:
        number = phonenumbers.parse(sender, country)
    except phonenumbers.NumberParseException:
        return sender
    if not phonenumbers.is_possible_number(number):
        return sender
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Conversations:
    """The bridge from stored inbound messages to replies; ``policy(pin)`` is the pool's."""

    def __init__(
        self,
        store: Store,
        bank: Bank,
        policy: Callable[[str], PoolPolicy],
        own_numbers: Callable[[], frozenset[str]] = frozenset,
    ) -> None:
        self.store = store
        self.bank = bank
        self.policy = policy
        self.own_numbers = own_numbers
        self.alarm = Alarm()

    @classmethod
    def from_pools(
        cls, store: Store, bank: Bank, pools: dict[str, dict[str, Any]]
    ) -> Conversations:
        """From the config's ``[pools."<pin>"]`` tables (a pool not named: the defaults); our
        own numbers are those the config lists and those the bank's SIMs know (AT+CNUM)."""
        policies = {pin: PoolPolicy.from_config(table) for pin, table in pools.items()}
        default = PoolPolicy()
        own = frozenset(n for table in pools.values() for n in table.get("own_numbers") or ())
        return cls(
            store, bank, lambda pin: policies.get(pin, default), lambda: own | bank.own_numbers()
        )

    async def on_inbound(self, msg: Inbound) -> Decision:
        """Call after ``msg`` is committed; returns what was decided."""
        policy = self.policy(msg.pin)
        msg = replace(msg, sender=international(msg.sender, policy.country))
        device = (
            msg.device_id
            if msg.device_id and self.bank.has_device(msg.pin, msg.device_id)
            else None
        )
        decision, job = await self.store.write(handle, msg, policy, self.own_numbers(), device)
        if job is not None:
            self.bank.submit(job)
        elif decision.reply is not None or decision.survey is not None:
            self.alarm.ring()  # a reply held for later, or a survey session's new timeout
        return decision

    async def tick(self, now: float | None = None) -> int:
        """Release replies whose quiet hours are over; end sessions past their timeout."""
        now = time.time() if now is None else now
        jobs = await self.store.write(replies.release_due, now)
        for job in jobs:
            self.bank.submit(job)
        ended = await self.store.write(surveys.expire, now)
        if jobs or ended:
            log.info("%d held replies released, %d survey sessions timed out", len(jobs), ended)
        return len(jobs)

    async def next_due_at(self) -> float | None:
        """When ``tick`` has something to do next: a held reply's release, a session's end."""
        return earliest(
            await self.store.read(replies.next_release_at),
            await self.store.read(surveys.next_expiry_at),
        )

    async def run(self) -> None:
        """``tick`` whenever something is due (cancel to stop)."""
        while True:
            self.alarm.take()
            due = None
            try:
                await self.tick()
                due = await self.next_due_at()
            except Exception:
                log.exception("conversations: releasing held replies failed; trying again")
                due = time.time() + RETRY_S
            await self.alarm.sleep(due)
