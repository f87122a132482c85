"""Reassembly of concatenated parts: any order, repeats ignored, timeouts, joined decoding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modemd.sms.concat import InboundMessage, Reassembler
from modemd.sms.dcs import Alphabet
from modemd.sms.deliver import Deliver, decode_deliver
from modemd.sms.deliver_build import build_deliver

SCTS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
LONG = "".join(f"{n:04d} " for n in range(80))  # 400 GSM-7 characters: 3 parts


def parts(
    text: str, sender: str = "+393331234567", ref: int = 7, reference_bits: int = 8
) -> list[Deliver]:
    pdus = build_deliver(sender, text, scts=SCTS, concat_ref=ref, reference_bits=reference_bits)
    return [decode_deliver(pdu) for pdu in pdus]


def feed(
    reassembler: Reassembler, items: list[Deliver], device: str = "dev-a"
) -> list[InboundMessage]:
    out: list[InboundMessage] = []
    for now, item in enumerate(items):
        out += reassembler.add(device, item, float(now))
    return out


def test_single_part_message_comes_out_at_once() -> None:
    [message] = Reassembler().add("dev-a", parts("hello")[0], 5.0)
    assert (message.text, message.total, message.missing, message.first_seen) == (
        "hello",
        1,
        (),
        5.0,
    )
    assert message.natural_key == message.parts[0].natural_key


def test_out_of_order_with_a_repeated_part() -> None:
    p1, p2, p3 = parts(LONG)
    reassembler = Reassembler()
    assert feed(reassembler, [p3, p1, p3]) == []
    [message] = reassembler.add("dev-a", p2, 9.0)
    assert message.text == LONG and not message.incomplete
    assert [p.concat.part for p in message.parts if p.concat] == [1, 2, 3]
    assert reassembler.pending == 0


def test_a_part_repeated_after_completion_is_ignored() -> None:
    reassembler = Reassembler()
    items = parts(LONG)
    assert len(feed(reassembler, items)) == 1
    assert feed(reassembler, [items[1]]) == []
    assert reassembler.pending == 0


def test_groups_are_kept_apart_by_device_sender_and_reference() -> None:
    reassembler = Reassembler()
    a = parts(LONG, ref=1)
    b = parts(LONG, ref=2)
    c = parts(LONG, ref=1, sender="+393330000000")
    assert feed(reassembler, [a[0], b[0], c[0], a[1], b[1], c[1]]) == []
    assert reassembler.add("dev-b", a[2], 10.0) == []  # same parts, other device
    assert reassembler.pending == 4
    [done] = reassembler.add("dev-a", a[2], 11.0)
    assert done.text == LONG and done.sender.value == "+393331234567"


def test_8_and_16_bit_references_with_the_same_number_differ() -> None:
    reassembler = Reassembler()
    eight = parts(LONG, ref=5)
    sixteen = parts(LONG, ref=5, reference_bits=16)
    assert feed(reassembler, eight[:2] + sixteen[:2]) == []
    assert reassembler.pending == 2


def test_flush_delivers_incomplete_messages_after_the_timeout() -> None:
    reassembler = Reassembler()
    p1, _, p3 = parts(LONG)
    reassembler.add("dev-a", p3, 100.0)
    reassembler.add("dev-a", p1, 150.0)
    assert reassembler.flush(now=100.0 + 59.0, timeout_s=60.0) == []
    [message] = reassembler.flush(now=100.0 + 60.0, timeout_s=60.0)
    assert message.incomplete and message.missing == (2,)
    assert message.text == LONG[:153] + LONG[306:]
    assert message.first_seen == 100.0 and reassembler.pending == 0


def test_flush_keeps_recent_groups() -> None:
    reassembler = Reassembler()
    reassembler.add("dev-a", parts(LONG, ref=1)[0], 0.0)
    reassembler.add("dev-a", parts(LONG, ref=2)[0], 50.0)
    assert [
        m.parts[0].concat.reference for m in reassembler.flush(60.0, 60.0) if m.parts[0].concat
    ] == [1]
    assert reassembler.pending == 1


def test_cap_pushes_the_oldest_out_incomplete() -> None:
    reassembler = Reassembler(max_pending=2)
    firsts = [parts(LONG, ref=ref)[0] for ref in (1, 2, 3)]
    out = feed(reassembler, firsts)
    assert len(out) == 1 and out[0].missing == (2, 3)
    assert out[0].parts[0].concat is not None and out[0].parts[0].concat.reference == 1
    assert reassembler.pending == 2


def test_split_surrogate_pair_is_joined_across_parts() -> None:
    """Some senders cut a UTF-16 pair between parts; decoding the joined body repairs it."""
    body = ("a" * 66 + "\U0001f600" + "b").encode("utf-16-be")
    cut = [body[:134], body[134:]]  # part 1 ends with the high surrogate
    hexes = []
    for number, chunk in enumerate(cut, start=1):
        ud = bytes((5, 0, 3, 9, 2, number)) + chunk
        hexes.append("00440B911326880736F40008" + "62211051000000" + f"{len(ud):02X}" + ud.hex())
    p1, p2 = (decode_deliver(h) for h in hexes)
    assert p1.text is not None and p1.text.endswith("\ufffd")
    [message] = feed(Reassembler(), [p2, p1])
    assert message.text == "a" * 66 + "\U0001f600" + "b"


def test_8bit_data_parts_are_joined_as_bytes() -> None:
    data = bytes(range(256))
    items = [decode_deliver(p) for p in build_deliver("+1", scts=SCTS, data=data, concat_ref=3)]
    [message] = feed(Reassembler(), items[::-1])
    assert (message.text, message.data) == (None, data)


def test_message_key_differs_from_its_parts_keys_and_is_stable() -> None:
    items = parts(LONG)
    [first] = feed(Reassembler(), items)
    [again] = feed(Reassembler(), items[::-1])
    assert first.natural_key == again.natural_key
    assert first.natural_key not in {item.natural_key for item in items}


def test_memory_of_delivered_parts_is_bounded() -> None:
    """A flood cannot grow the repeat filter: past max_done parts the oldest are forgotten."""
    first, second = parts(LONG, ref=1), parts(LONG, ref=2)
    bounded = Reassembler(max_done=3)
    assert len(feed(bounded, first + second)) == 2
    assert bounded.add("dev-a", first[0], 10.0) == [] and bounded.pending == 1  # forgotten
    roomy = Reassembler()
    feed(roomy, first + second)
    assert roomy.add("dev-a", first[0], 10.0) == [] and roomy.pending == 0  # still known


def test_flush_forgets_delivered_parts_after_the_timeout() -> None:
    reassembler = Reassembler()
    items = parts(LONG)
    feed(reassembler, items)  # completed at t=2
    reassembler.flush(now=2.0 + 60.0, timeout_s=60.0)
    assert reassembler.add("dev-a", items[0], 63.0) == [] and reassembler.pending == 1


def test_build_deliver_refuses_contradictions() -> None:
    with pytest.raises(ValueError, match="either text or data"):
        build_deliver("+1", "hi", scts=SCTS, data=b"x")
    with pytest.raises(ValueError, match="carries data"):
        build_deliver("+1", "hi", scts=SCTS, alphabet=Alphabet.DATA)
    with pytest.raises(ValueError, match="8 or 16"):
        build_deliver("+1", "hi", scts=SCTS, reference_bits=12)
