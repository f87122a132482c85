"""Phone path vs modem path: send latency, and how long a state change takes to reach us by polling.

In-process, driver level, emulators with zero radio latency, so what is measured is each path's
own cost. Send latency: ``send_sms`` call to return (modem: AT+CMGS, prompt, PDU, +CMGS; phone:
POST /messages, then GET /messages/{id} every ``send_poll_s`` until Processed). Polling: from the
emulated app's Delivered timestamp to the driver's status report, for several poll intervals.

    .venv/bin/python bench/phone_latency.py [--sends 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from modemd.drivers.phone import PhoneDriver
from modemd.drivers.phone_protocol import Pacer, PhoneTimings
from modemd.drivers.serial_at import SerialAtDriver
from modemd.emulators.modem_bank import EmulatedBank
from modemd.emulators.phone import EmulatedPhone, PhoneProfile
from modemd.model import DeliveryReport

UNPACED = Pacer(max_parts=10**9)  # the bench measures latency, not Android's limit


def summary(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(f"{name:<44} p50 {statistics.median(ms):7.1f} ms  p90 {p90:7.1f} ms  n={len(ms)}")


async def timed(sends: int, send: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(sends):
        start = time.perf_counter()
        await send(i)
        out.append(time.perf_counter() - start)
    return out


def phone(**knobs: Any) -> EmulatedPhone:
    profile = PhoneProfile(device_id="bench", password="benchpw1", limit_count=10**9, **knobs)
    return EmulatedPhone(profile, name="bench")


async def modem_sends(sends: int) -> list[float]:
    overrides = {"send_latency_s": (0.0, 0.0), "report_delay_s": 0.0}
    async with EmulatedBank.create(1, seed=1, profile_overrides=overrides) as bank:
        driver = SerialAtDriver(bank.modems[0].port, "1")
        await driver.open()
        try:
            return await timed(sends, lambda i: driver.send_sms(f"+39333{i:07d}", "bench"))
        finally:
            await driver.close()


async def phone_sends(sends: int, send_poll_s: float) -> list[float]:
    emulated = phone(process_delay_s=0.0)
    await emulated.start()
    timings = PhoneTimings(send_poll_s=send_poll_s)
    driver = PhoneDriver(emulated.url, "1", password="benchpw1", timings=timings, pacer=UNPACED)
    try:
        await driver.open()
        return await timed(sends, lambda i: driver.send_sms(f"+39333{i:07d}", "bench"))
    finally:
        await driver.close()
        await emulated.close()


async def poll_delays(sends: int, poll_s: float) -> list[float]:
    """Delivered on the phone -> status report in modemd, polling every ``poll_s``."""
    emulated = phone(process_delay_s=0.0, sent_delay_s=0.0, delivered_delay_s=0.05)
    await emulated.start()
    arrived: dict[int, float] = {}
    refs: dict[int, str] = {}

    done = asyncio.Event()

    def on_report(_device: str, report: DeliveryReport) -> None:
        arrived[report.reference] = time.time()
        if len(arrived) == sends:
            done.set()

    timings = PhoneTimings(send_poll_s=0.01, poll_s=poll_s)
    driver = PhoneDriver(
        emulated.url, "1", password="benchpw1", on_report=on_report, timings=timings, pacer=UNPACED
    )
    try:
        await driver.open()
        for i in range(sends):
            (part,) = await driver.send_sms(f"+39333{i:07d}", "bench")
            refs[part.mr] = f"modemd-{part.mr}-1"
        await done.wait()
    finally:
        await driver.close()
        await emulated.close()
    delivered = {
        ref: datetime.fromisoformat(emulated.messages[mid].states["Delivered"]).timestamp()
        for ref, mid in refs.items()
    }
    return [arrived[ref] - delivered[ref] for ref in refs]


async def main(sends: int) -> None:
    summary("modem send_sms (to +CMGS)", await modem_sends(sends))
    for send_poll_s in (0.1, 0.02):
        summary(
            f"phone send_sms (to Processed, poll {send_poll_s} s)",
            await phone_sends(sends, send_poll_s),
        )
    for poll_s in (2.0, 0.5):
        summary(
            f"phone Delivered -> report (poll {poll_s} s)",
            await poll_delays(sends // 4 or 1, poll_s),
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=40)
    asyncio.run(main(parser.parse_args().sends))
