"""A campaign honours its key's limits as /send does: the hourly [limits] refuse the rows over
them (kept as refusals, counted as ``limited``), and the key's daily cap pauses the campaign
with the reason (resuming while still at the cap pauses it again)."""

from __future__ import annotations

from modemd.caps import Caps
from modemd.model import Lane
from modemd.runtime.bank import Bank
from modemd.runtime.campaigns import CampaignRunner
from modemd.runtime.feeder import Feeder
from modemd.store import campaigns, keys, refusals
from modemd.store.accept import DestinationLimits, accept_send
from modemd.store.campaign_views import detail
from modemd.store.db import Store

PIN = "7"


async def _key(store: Store) -> int:
    key, _ = await store.write(keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None)
    return key.key_id


async def _sent_by_api(store: Store, key_id: int, to: str, parts: int = 1) -> None:
    await store.write(
        accept_send,
        key_id=key_id,
        pin=PIN,
        to=to,
        message="otp",
        parts=parts,
        encoding="gsm7",
        id_device=None,
        country="IT",
    )


async def _started(store: Store, key_id: int, numbers: list[str], parts: int = 1) -> str:
    campaign_id = await store.write(campaigns.create, key_id=key_id, pin=PIN, template="m")
    rows = [
        campaigns.Recipient(n + 2, to, "IT", "m", parts, "gsm7") for n, to in enumerate(numbers)
    ]
    await store.write(campaigns.add_recipients, campaign_id, rows)
    await store.write(campaigns.finish_validation, campaign_id, {"valid": len(rows)})
    await store.write(campaigns.start, campaign_id, PIN)
    return campaign_id


async def _queued_numbers(store: Store, campaign_id: str) -> list[str]:
    found = await store.read(
        lambda db: [
            r[0]
            for r in db.execute(
                "SELECT to_number FROM jobs WHERE campaign_id = ? ORDER BY seq", [campaign_id]
            )
        ]
    )
    return list(found)


async def test_rows_over_the_hourly_limits_are_refused_as_send_refuses_them(store: Store) -> None:
    key_id = await _key(store)
    await _sent_by_api(store, key_id, "+393330000001")  # one of the prefix's three this hour
    await _sent_by_api(store, key_id, "+393470000009")
    await _sent_by_api(store, key_id, "+393470000009")  # that recipient's two this hour
    numbers = [
        *("+393330000002", "+393330000003", "+393330000004", "+393330000005"),
        *("+393470000008", "+393470000009"),
    ]
    campaign_id = await _started(store, key_id, numbers)
    limits = DestinationLimits(prefix_digits=5, per_prefix_per_hour=3, per_recipient_per_hour=2)
    dealt = await store.write(campaigns.queue_batch, campaign_id, 100, limits=limits)

    assert dealt == len(numbers)
    assert await _queued_numbers(store, campaign_id) == [
        "+393330000002",
        "+393330000003",  # the prefix +39333 now has its three of the hour
        "+393470000008",
    ]
    shown = await store.read(detail, campaign_id)
    assert shown["counts"]["limited"] == 3
    assert shown["counts"]["not_queued"] == 0
    kept = await store.read(refusals.list_refusals, key_id=key_id)
    assert sorted((r["to"], r["reason"]) for r in kept) == [
        ("+393330000004", "prefix_limit"),
        ("+393330000005", "prefix_limit"),
        ("+393470000009", "recipient_limit"),
    ]
    assert all(r["detail"].startswith(f"campaign {campaign_id}: ") for r in kept)


async def test_a_campaign_over_the_key_daily_cap_pauses_with_the_reason(store: Store) -> None:
    key_id = await _key(store)
    await _sent_by_api(store, key_id, "+393330000001", parts=2)  # 2 of the 7 parts of today
    numbers = [f"+3933300001{n:02d}" for n in range(6)]
    campaign_id = await _started(store, key_id, numbers, parts=2)
    cap = Caps(daily=7)
    dealt = await store.write(campaigns.queue_batch, campaign_id, 100, key_caps=cap)

    assert dealt == 2  # 2 + 2 + 2 = 6 parts; a third job would make 8
    assert await _queued_numbers(store, campaign_id) == numbers[:2]
    shown = await store.read(detail, campaign_id)
    assert shown["state"] == "paused"
    assert shown["reason"].startswith("the key daily cap of 7 SMS reached: 6 parts accepted")
    assert "it lifts at" in shown["reason"]
    assert shown["counts"]["not_queued"] == 4
    # Resumed while the cap still holds: paused again at once, nothing more queued.
    await store.write(campaigns.resume, campaign_id, PIN)
    assert await store.write(campaigns.queue_batch, campaign_id, 100, key_caps=cap) == 0
    assert (await store.read(detail, campaign_id))["state"] == "paused"
    assert len(await _queued_numbers(store, campaign_id)) == 2


async def test_the_runner_queues_with_the_pool_key_caps_and_the_limits(store: Store) -> None:
    key_id = await _key(store)
    feeder = Feeder(store, Bank(store))
    runner = CampaignRunner(
        store,
        feeder,
        limits=DestinationLimits(per_recipient_per_hour=1),
        key_caps=lambda pin: Caps(monthly=3) if pin == PIN else Caps(),
    )
    await _sent_by_api(store, key_id, "+393330000050")
    numbers = ["+393330000050", *(f"+3933300002{n:02d}" for n in range(5))]
    campaign_id = await _started(store, key_id, numbers)
    runner.queue(campaign_id)
    await runner.queued()
    shown = await store.read(detail, campaign_id)
    assert shown["state"] == "paused"
    assert shown["reason"].startswith("the key monthly cap of 3 SMS reached")
    assert shown["counts"]["limited"] == 1  # the number the API sent to this hour
    assert shown["counts"]["queued"] == 2
    lanes = await store.read(
        lambda db: {
            r[0] for r in db.execute("SELECT lane FROM jobs WHERE campaign_id = ?", [campaign_id])
        }
    )
    assert lanes == {Lane.BULK.value}
    await runner.close()
