"""Blocked destinations in a campaign: the numbers ``/send`` refuses with code 11 (premium
rate, shared cost, short codes) are counted ``blocked`` at validation, listed with their row,
never queued, never charged; a key with ``allow_premium`` sends to them."""

from __future__ import annotations

from collections import Counter

import phonenumbers

from modemd.api.campaign_report import blocked_destination
from modemd.api.validation import blocked_number
from modemd.store import keys, wallet

from .conftest import PIN, Rig

BLOCKED = ["+39899123456", "+39848123456", "+449012345678", "4916"]  # IT 899, IT 848, GB 09
GOOD = ["+393334440001", "+393334440002", "+393334440003"]


async def test_blocked_destinations_are_counted_listed_and_never_sent(rig: Rig) -> None:
    await rig.store.write(wallet.set_price, "*", 1000)  # 0.1 per part
    await rig.store.write(wallet.topup, rig.key_id, 100_000)
    rows = [GOOD[0], BLOCKED[0], GOOD[1], BLOCKED[1], BLOCKED[2], GOOD[2], BLOCKED[3]]
    csv = "to,name\n" + "".join(f"{n},N{i}\n" for i, n in enumerate(rows))
    status, answer = await rig.post(
        "/api/v1/campaigns?template=Hi+{name}",
        data=csv,
        headers={**rig.auth, "Content-Type": "text/csv"},
    )
    assert status == 200, answer
    report = answer["campaign"]["report"]
    assert (report["valid"], report["blocked"], report["invalid_count"]) == (3, 4, 0)
    assert [(b["row"], b["column"]) for b in report["blocked_rows"]] == [
        (3, "to"),
        (5, "to"),
        (6, "to"),
        (8, "to"),
    ]
    reasons = [b["reason"] for b in report["blocked_rows"]]
    assert (
        "premium-rate" in reasons[0] and "shared-cost" in reasons[1] and "short code" in reasons[3]
    )
    assert report["estimated_cost"] == "0.3000"  # the three valid rows only
    campaign_id = answer["campaign"]["campaign_id"]
    await rig.post(f"/api/v1/campaigns/{campaign_id}/start")
    done = await rig.campaign_until(campaign_id, "done")
    assert done["total"] == 3 and done["report"]["blocked"] == 4
    assert Counter(rig.sent_numbers()) == Counter(GOOD)
    assert (await rig.store.read(wallet.balance, rig.key_id)).spent == 3000


async def test_a_key_that_allows_premium_numbers_sends_to_them(rig: Rig) -> None:
    _, secret = await rig.store.write(
        keys.create_key, pin=PIN, allow_ips=[], over_ip=True, ipn_url=None, allow_premium=True
    )
    status, answer = await rig.post(
        "/api/v1/campaigns",
        json={"template": "Hi", "recipients": [*GOOD, *BLOCKED], "dry_run": True},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert status == 200, answer
    report = answer["campaign"]["report"]
    assert (report["valid"], report["blocked"], report["blocked_rows"]) == (7, 0, [])


def _examples() -> list[str]:
    """phonenumbers' own example number of each blocking-relevant type in every region."""
    types = (
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.VOIP,
    )
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in types:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(
                    phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                )
    return found


def test_the_fast_check_agrees_with_blocked_number_everywhere() -> None:
    blocked = 0
    for to in _examples():
        region = phonenumbers.region_code_for_number(phonenumbers.parse(to))
        expected = blocked_number(to)
        assert blocked_destination(to, region) == expected, (to, region)
        blocked += expected is not None
    assert blocked > 100  # premium-rate and shared-cost examples of many regions
