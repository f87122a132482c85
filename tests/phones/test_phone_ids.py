"""Our SMSGate message ids: drawn at random (never from the clock), short enough for the app's
API, and an id the phone already has (another modemd's, a past run's) drawn again before
anything is queued, so a poll never answers for another message."""

from __future__ import annotations

import asyncio
from itertools import count
from typing import Any

import pytest

from modemd.drivers.phone_protocol import (
    MAX_ID_CHARS,
    OUR_ID,
    REF_BITS,
    draw_ref,
    message_id,
    tracked_from,
)
from modemd.errors import SendError
from modemd.model import DeliveryOutcome

from .conftest import Seen
from .test_phone_driver import TO, until


def test_ids_fit_the_app_and_give_back_their_ref() -> None:
    refs = {draw_ref() for _ in range(2000)}
    assert len(refs) == 2000  # no clock: a tight loop still draws distinct refs
    for ref in refs:
        sent = message_id(ref, 24)  # a 1600-character UCS-2 text has 24 parts
        assert len(sent) <= MAX_ID_CHARS and OUR_ID.match(sent)
        assert ref + 24 < 2**REF_BITS  # every part's ref is exact in JSON for JavaScript
        back = tracked_from({"id": sent, "recipients": [{"phoneNumber": TO}]}, 0.0)
        assert back is not None and (back.ref, back.parts, back.to) == (ref, 24, TO)


async def test_an_id_the_phone_has_is_drawn_again(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone()
    other = phone.accept(message_id(42, 1), "another daemon's message", ["+393330000009"])
    seen = Seen()
    driver = make_driver(phone, seen, refs=iter([42, 4242]).__next__)
    await driver.open()
    (part,) = await driver.send_sms(TO, "ours")
    assert part.mr == 4242
    assert phone.messages[message_id(4242, 1)].text == "ours"
    assert phone.messages[other.id].text == "another daemon's message"  # untouched
    await until(lambda: len(seen.reports) == 1)
    assert [(r.reference, r.outcome) for r in seen.reports] == [(4242, DeliveryOutcome.DELIVERED)]
    await asyncio.sleep(0.3)  # the other message is delivered too: never reported as ours
    assert len(seen.reports) == 1


async def test_ids_taken_again_and_again_fail_known_and_send_nothing(
    make_phone: Any, make_driver: Any
) -> None:
    phone = await make_phone()
    for ref in (1, 2, 3):
        phone.accept(message_id(ref, 1), "not ours", ["+393330000009"])
    driver = make_driver(phone, refs=count(1).__next__)
    await driver.open()
    with pytest.raises(SendError) as caught:
        await driver.send_sms(TO, "ours")
    assert caught.value.outcome_known and caught.value.transient  # another device may try
    assert sorted(m.text for m in phone.messages.values()) == ["not ours"] * 3


async def test_two_daemons_on_one_phone_never_share_an_id(
    make_phone: Any, make_driver: Any
) -> None:
    phone = await make_phone()
    seen = [Seen(), Seen()]
    drivers = [make_driver(phone, s) for s in seen]
    for driver in drivers:
        await driver.open()
    sent = await asyncio.gather(
        *(d.send_sms(f"+39333000000{i}", f"text {i}") for i in range(3) for d in drivers)
    )
    refs = [parts[0].mr for parts in sent]
    assert len(set(refs)) == 6 and len(phone.messages) == 6
    await until(lambda: sum(len(s.reports) for s in seen) == 6)
    mine = [{r.reference for r in s.reports} for s in seen]
    assert mine[0] == set(refs[0::2]) and mine[1] == set(refs[1::2])  # each its own only
