"""Pacing under Android's per-app SMS limit: sans-IO, then against the emulated limit."""

from __future__ import annotations

from typing import Any

from modemd.drivers.phone_protocol import Pacer


def test_pacer_counts_parts_in_a_sliding_window() -> None:
    pacer = Pacer(max_parts=3, window_s=60.0)
    assert pacer.wait_s(2, now=0.0) == 0.0
    pacer.record(2, now=0.0)
    pacer.record(1, now=10.0)
    assert pacer.wait_s(1, now=20.0) == 40.0  # the 2 parts sent at 0 leave at 60
    assert pacer.wait_s(3, now=20.0) == 50.0  # needs the part sent at 10 gone too
    assert pacer.wait_s(1, now=60.0) == 0.0
    assert pacer.wait_s(5, now=61.0) == 9.0  # bigger than the window: wait until it is empty


async def test_pacing_keeps_the_emulated_limit_from_tripping(
    make_phone: Any, make_driver: Any
) -> None:
    limit = {"limit_count": 4, "limit_window_s": 0.4, "process_delay_s": 0.0}
    phone = await make_phone(**limit)
    driver = make_driver(phone, pacer=Pacer(max_parts=4, window_s=0.4))
    await driver.open()
    for i in range(6):
        await driver.send_sms(f"+3933300000{i:02d}", "y" * 200)  # 2 parts each
    assert phone.limit_tripped == 0 and len(phone.messages) == 6


async def test_without_pacing_the_emulated_limit_trips(make_phone: Any, make_driver: Any) -> None:
    phone = await make_phone(limit_count=4, limit_window_s=10.0, process_delay_s=0.0)
    driver = make_driver(phone, pacer=Pacer(max_parts=100))
    await driver.open()
    failures = 0
    for i in range(4):
        try:
            await driver.send_sms(f"+3933300000{i:02d}", "y" * 200)
        except Exception:
            failures += 1
    assert phone.limit_tripped == 2 and failures == 2
