"""What the console reads of received SMS, on SQLite and PostgreSQL: newest first with a cursor,
filters (a sender's digits, wildcards taken literally), the IPN events of each message (a reply's
filed under its job) and the automatic replies each one caused, not its twin's."""

from __future__ import annotations

import pytest
from builders import DEVICE, TO, sent_job

from modemd.conversations.engine import Inbound, PoolPolicy
from modemd.model import DEFAULT_EVENTS, InboundSms
from modemd.store import conversations, inbound_views
from modemd.store import inbound as inbound_rows
from modemd.store.db import Store

pytestmark = pytest.mark.both_engines
PIN = "1"  # builders' pool
RECEIVES = (*DEFAULT_EVENTS, "sms.received")


def sms(n: int, sender: str, text: str | None, data: bytes | None = None) -> InboundSms:
    return InboundSms(f"k{n}", sender, text, data, "8bit" if data else "gsm7", 1)


async def receive(store: Store, n: int, sender: str, text: str | None, **kw: bytes) -> int:
    """Store message ``n`` and run it through the conversation engine, as the daemon does."""
    got = await store.write(
        inbound_rows.store_inbound, DEVICE, PIN, "", sender, sms(n, sender, text, **kw)
    )
    if text is not None:
        msg = Inbound(PIN, sender, text, DEVICE, 0.0)
        await store.write(conversations.handle, msg, PoolPolicy())
    return got.inbound_id


async def test_pages_filters_events_and_replies(store: Store) -> None:
    key, job = await sent_job(store, "https://receiver.example/ipn", events=RECEIVES)
    first_help = await receive(store, 1, "+393330000001", "HELP")
    answer = await receive(store, 2, TO, "yes please")  # answers the job
    second_help = await receive(store, 3, "+393330000001", "HELP")  # its reply is its own
    binary = await receive(store, 4, "BANK_50%", None, data=b"\x01\x02\x03")

    rows, older = await store.read(inbound_views.inbound_page)
    assert [r["inbound_id"] for r in rows] == [binary, second_help, answer, first_help]
    assert older is None
    by_id = {r["inbound_id"]: r for r in rows}
    assert by_id[binary]["text"] is None and by_id[binary]["data_bytes"] == 3
    # The reply's event is filed under the job, the others' under inbound:<id>; one each.
    assert [(e["key_id"], e["state"]) for e in by_id[answer]["ipn"]] == [(key.key_id, "pending")]
    assert all(len(r["ipn"]) == 1 for r in rows)
    assert by_id[answer]["reply_to_job_id"] == job.job_id
    # Each HELP has its own help reply, and only its own.
    first_replies = [r["reply_id"] for r in by_id[first_help]["replies"]]
    second_replies = [r["reply_id"] for r in by_id[second_help]["replies"]]
    assert len(first_replies) == 1 and len(second_replies) <= 1
    assert not set(first_replies) & set(second_replies)
    assert by_id[first_help]["replies"][0]["rule"] == "help"
    assert by_id[answer]["replies"] == [] and by_id[binary]["replies"] == []

    page, older = await store.read(inbound_views.inbound_page, limit=2)
    assert [r["inbound_id"] for r in page] == [binary, second_help] and older == second_help
    page, older = await store.read(inbound_views.inbound_page, before_id=older, limit=2)
    assert [r["inbound_id"] for r in page] == [answer, first_help] and older is None

    async def senders(**filters: object) -> list[int]:
        found, _ = await store.read(inbound_views.inbound_page, **filters)
        return [r["inbound_id"] for r in found]

    assert await senders(sender="39 333 000 0001") == [second_help, first_help]
    assert await senders(sender="50%") == [binary]
    assert await senders(sender="_5") == [binary] and await senders(sender="%") == [binary]
    assert await senders(sender="A_K") == []  # "_" is no wildcard: "BANK" would match it
    assert await senders(pin="2") == [] and await senders(device_id="other") == []
    assert await senders(device_id=DEVICE, pin=PIN, sender=TO) == [answer]
