"""Properties: build_deliver -> decode_deliver -> Reassembler round-trips; garbage is PduError."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modemd.errors import PduError
from modemd.sms.concat import Reassembler
from modemd.sms.dcs import Alphabet
from modemd.sms.deliver import decode_deliver
from modemd.sms.deliver_build import build_deliver
from modemd.sms.encoding import GSM7_BASIC, GSM7_EXTENSION

# Small example counts: the suite runs on 2 shared cores; bench/ is the place for volume.
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GSM7_CHARS = st.sampled_from(sorted(set(GSM7_BASIC.replace("\x1b", "")) | set(GSM7_EXTENSION)))
ANY_CHARS = st.characters(codec="utf-16", exclude_categories=("Cs",))  # no lone surrogates
SENDERS = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    st.from_regex(r"[0-9]{3,12}", fullmatch=True),
    st.text(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "),
        min_size=1,
        max_size=11,
    ),
)
ZONES = st.integers(min_value=-79, max_value=79).map(lambda q: timezone(timedelta(minutes=15 * q)))
MOMENTS = st.builds(
    lambda seconds, tz: (
        datetime(2000, 1, 1, tzinfo=UTC).astimezone(tz).replace(microsecond=0)
        + timedelta(seconds=seconds)
    ),
    st.integers(min_value=86400, max_value=99 * 365 * 86400),
    ZONES,
)


def round_trip(pdus: list[str], seed: int) -> tuple[str | None, bytes | None, int]:
    """Decode every part, feed them shuffled with one repeated; the one message (by its key).

    A repeated single-part message comes out again with the same natural key: the store keeps one.
    """
    parts = [decode_deliver(pdu) for pdu in pdus]
    order = [*parts, random.Random(seed).choice(parts)]
    random.Random(seed).shuffle(order)
    reassembler = Reassembler()
    out = [m for now, part in enumerate(order) for m in reassembler.add("dev", part, float(now))]
    assert len({message.natural_key for message in out}) == 1 and reassembler.pending == 0
    assert not out[0].incomplete
    return out[0].text, out[0].data, out[0].total


@FAST
@given(
    text=st.text(GSM7_CHARS, max_size=500),
    sender=SENDERS,
    scts=MOMENTS,
    ref=st.integers(0, 0xFFFF),
    bits=st.sampled_from([8, 16]),
    seed=st.integers(),
)
def test_gsm7_round_trip(
    text: str, sender: str, scts: datetime, ref: int, bits: int, seed: int
) -> None:
    pdus = build_deliver(sender, text, scts=scts, concat_ref=ref, reference_bits=bits)
    first = decode_deliver(pdus[0])
    assert first.dcs.alphabet is Alphabet.GSM7
    assert first.sender.value == sender and first.scts == scts
    assert first.notes == ()
    assert round_trip(pdus, seed) == (text, None, len(pdus))


@FAST
@given(text=st.text(ANY_CHARS, max_size=300), scts=MOMENTS, seed=st.integers())
def test_any_text_round_trip(text: str, scts: datetime, seed: int) -> None:
    """Any Unicode text: GSM-7 when it fits, else UCS-2 with surrogate pairs kept whole."""
    pdus = build_deliver("+393331234567", text, scts=scts, concat_ref=1)
    assert round_trip(pdus, seed) == (text, None, len(pdus))
    for pdu in pdus:  # every part decodes on its own to clean text: no pair was cut
        assert "\ufffd" not in (decode_deliver(pdu).text or "") or "\ufffd" in text


@FAST
@given(
    data=st.binary(max_size=600), message_class=st.none() | st.integers(0, 3), seed=st.integers()
)
def test_8bit_data_round_trip(data: bytes, message_class: int | None, seed: int) -> None:
    pdus = build_deliver(
        "+1555", data=data, scts=datetime(2026, 1, 1, tzinfo=UTC), message_class=message_class
    )
    assert decode_deliver(pdus[0]).dcs.message_class == message_class
    assert round_trip(pdus, seed) == (None, data, len(pdus))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_pdu_error(data: bytes) -> None:
    try:
        decode_deliver(data.hex())
    except PduError as exc:
        assert exc.raw == data.hex().upper()


VALID = build_deliver(
    "+393331234567", "Grüße 😀 " * 20, scts=datetime(2026, 1, 1, tzinfo=UTC), concat_ref=9
)


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(0, len(VALID) - 1),
    flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 200),
)
def test_mutated_pdus_raise_only_pdu_error(
    which: int, flips: list[tuple[int, int]], cut: int
) -> None:
    """Real PDUs with octets overwritten and the tail cut: a Deliver or a PduError, nothing else."""
    data = bytearray.fromhex(VALID[which])
    for index, value in flips:
        data[index % len(data)] = value
    with contextlib.suppress(PduError):
        decode_deliver(bytes(data[: len(data) - cut % len(data)]).hex())
