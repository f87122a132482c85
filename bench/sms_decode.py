"""Inbound decoding cost: modemd's SMS-DELIVER decoder and reassembler against python-gsmmodem's.

Ratios in one run on the same PDUs (built by ``build_deliver``): GSM-7, UCS-2 with emoji and
3-part concatenated messages. Also decode + reassembly per second for one busy sender, to set
against issue 14's "10,000 messages from one number in a minute" (167/s).

    .venv/bin/python bench/sms_decode.py [--messages 3000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import gsmmodem.pdu

from modemd.sms.concat import Reassembler
from modemd.sms.deliver import decode_deliver
from modemd.sms.deliver_build import build_deliver

SCTS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
FLOOD_PER_S = 10_000 / 60  # issue 14's bad-input case: one number, 10,000 messages a minute
TEXTS = {
    "gsm7": "Your code is 483920. It expires in 10 minutes. Do not share it [ref: x]",
    "ucs2": "Ciao! Ci vediamo alle 8 \U0001f600\U0001f389 grazie",
    "concat": "".join(f"{n:04d} " for n in range(80)),  # 400 GSM-7 characters, 3 parts
}


def per_second(function: Callable[[str], object], pdus: list[str]) -> float:
    """Calls of ``function`` per second over ``pdus`` (best of three passes)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for pdu in pdus:
            function(pdu)
        best = min(best, time.perf_counter() - start)
    return len(pdus) / best


def flood(messages: int) -> float:
    """Decode + reassemble 3-part messages from one sender: whole messages per second.

    Each message gets its own SCTS: with 8-bit references repeating every 256 messages, equal
    PDUs would rightly be taken for repeats and dropped.
    """
    pdus = [
        pdu
        for n in range(messages)
        for pdu in build_deliver(
            "+393331234567", TEXTS["concat"], scts=SCTS + timedelta(seconds=n), concat_ref=n % 256
        )
    ]
    reassembler = Reassembler()
    start = time.perf_counter()
    done = 0
    for now, pdu in enumerate(pdus):
        done += len(reassembler.add("dev", decode_deliver(pdu), float(now)))
    elapsed = time.perf_counter() - start
    assert done == messages and reassembler.pending == 0
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    print(f"{'PDUs':<8} {'modemd /s':>12} {'gsmmodem /s':>12} {'ratio':>7}")
    for name, text in TEXTS.items():
        built = build_deliver("+393331234567", text, scts=SCTS, concat_ref=7)
        pdus = (built * (args.messages // len(built) + 1))[: args.messages]
        ours = per_second(decode_deliver, pdus)
        theirs = per_second(gsmmodem.pdu.decodeSmsPdu, pdus)
        print(f"{name:<8} {ours:>12,.0f} {theirs:>12,.0f} {ours / theirs:>7.2f}")
    rate = flood(args.messages // 3)
    print(f"decode + reassemble, one sender: {rate:,.0f} messages/s = {rate / FLOOD_PER_S:.0f}x")
    print("the 10,000-a-minute flood of issue 14")


if __name__ == "__main__":
    main()
