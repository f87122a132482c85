"""The runtime bridge: a stored inbound message's reply is offered to the pool (the receiving
device only while it is in the pool), held replies are released by the timer."""

from __future__ import annotations

import time

from modemd.conversations.engine import Action, Inbound
from modemd.conversations.specs import check_rule
from modemd.runtime.bank import Bank
from modemd.runtime.conversations import Conversations, international
from modemd.store import jobs, rules
from modemd.store.db import Store

POOLS = {
    "4711": {
        "stop_reply": "Bye",
        "stop_words": ["BASTA"],
        "quiet_hours": "00:00-23:59",
        "timezone": "UTC",
        "own_numbers": ["+393330000001"],
        "country": "IT",
    }
}


async def test_replies_are_offered_to_the_pool_and_held_ones_released(store: Store) -> None:
    bank = Bank(store)
    await bank.start()
    try:
        talk = Conversations.from_pools(store, bank, POOLS)
        now = time.time()
        msg = Inbound("4711", "3331234567", "basta!", "350000990000008", now)  # national
        decision = await talk.on_inbound(msg)
        assert decision.action is Action.OPT_OUT and decision.reply is not None
        queued = await store.read(jobs.queued_jobs)
        assert [(j.to, j.message, j.id_device) for j in queued] == [("+393331234567", "Bye", None)]
        assert len(bank.pool("4711")) == 1  # offered (no device: waits in the pool)
        from_us = Inbound("4711", "+393330000001", "STOP", None, now)
        assert (await talk.on_inbound(from_us)).action is Action.NONE  # our own SIM
        other = Inbound("9999", "+393331234567", "STOP", None, now)  # a pool with defaults
        assert (await talk.on_inbound(other)).reply.text.startswith("You will receive no more")  # type: ignore[union-attr]
        assert await talk.tick(now) == 0
        await store.write(rules.create_rule, "4711", check_rule({"kind": "default", "reply": "Hi"}))
        held = await talk.on_inbound(Inbound("4711", "+393339999999", "hello", None, now))
        assert held.reply is not None and held.reply.due_at > now  # quiet hours: it waits
        assert len(bank.pool("4711")) == 1
        assert await talk.tick(held.reply.due_at) == 1
        assert len(bank.pool("4711")) == 2
    finally:
        await bank.close()


def test_national_senders_are_read_with_the_pool_country() -> None:
    assert international("3331234567", "IT") == "+393331234567"
    assert international("+393331234567", "IT") == "+393331234567"
    assert international("4916", "IT") == "4916"  # a short code stays one
    assert international("ACME", "IT") == "ACME"
    assert international("3331234567", None) == "3331234567"
