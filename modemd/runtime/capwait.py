"""How long a device's caps keep it from taking a job: its SIM's daily and monthly caps (what
the SIM sent in any device) and its pool's (what every device of the pool sent)."""

from __future__ import annotations

from modemd import caps
from modemd.caps import Caps
from modemd.drivers.base import SmsDevice
from modemd.model import Pacing
from modemd.store import pacing as pacing_rows
from modemd.store.db import Store


async def cap_wait(
    store: Store, device: SmsDevice, pacing: Pacing, pin: str, pool_caps: Caps
) -> tuple[float, str] | None:
    """Seconds until the cap that stops ``device`` lifts, and why; None when none does."""
    sim = Caps(pacing.daily_cap, pacing.monthly_cap)
    if not sim.any and not pool_caps.any:  # (each idle device's every job: no day's bounds
        return None  # in local time to build, five ``astimezone`` calls)
    window = caps.window()
    iccid = device.info.iccid
    device_id = device.info.device_id
    for whose, limit, usage in (
        (
            f"SIM {iccid}" if iccid else "device",
            sim,
            lambda: store.read(pacing_rows.sim_usage, iccid, device_id, window),
        ),
        (f"pool {pin}", pool_caps, lambda: store.read(pacing_rows.pool_usage, pin, window)),
    ):
        if not limit.any:
            continue
        hit = caps.reached(limit, await usage(), window)
        if hit is not None:
            return hit.seconds(window), hit.words(whose)
    return None
