"""Daily and monthly caps, counted in SMS parts per calendar day and month of local time.

Three counters: a SIM's (ICCID; a device without one counts as itself), which the worker of
the device holding the SIM obeys (the device then takes no job); a pool's (``[pools."<pin>"]
daily_cap``), which every device of the pool obeys; an API key's (``key_daily_cap``), which
the accept transaction checks (a send over it is refused with code 9). No I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modemd.model import NO_PACING, Pacing


@dataclass(frozen=True, slots=True)
class Caps:
    """At most this many parts per calendar day and month; None: no cap."""

    daily: int | None = None
    monthly: int | None = None

    @property
    def any(self) -> bool:
        return self.daily is not None or self.monthly is not None


NO_CAPS = Caps()


@dataclass(frozen=True, slots=True)
class Window:
    """The calendar day and month (local time) that contain one instant."""

    now: datetime
    day_start: datetime
    day_end: datetime
    month_start: datetime
    month_end: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    """Parts counted in the day and in the month of a window."""

    today: int
    month: int


@dataclass(frozen=True, slots=True)
class Reached:
    """A cap that stops sends: which, and until when."""

    period: str  # daily | monthly
    cap: int
    until: datetime

    def seconds(self, window: Window) -> float:
        return max(0.0, (self.until - window.now).total_seconds())

    def words(self, whose: str) -> str:
        return f"{whose} {self.period} cap of {self.cap} SMS reached"


def window(now: datetime | None = None) -> Window:
    """The day and month of ``now`` (default: this moment) in the machine's local time."""
    # Naive local wall time: midnights are built from the date, then given their own UTC
    # offset, so a day across a DST change is 23 or 25 hours long.
    local = now.astimezone().replace(tzinfo=None) if now is not None else datetime.now()
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
    return Window(
        local.astimezone(),
        day.astimezone(),
        (day + timedelta(days=1)).astimezone(),
        month.astimezone(),
        next_month.astimezone(),
    )


def reached(caps: Caps, usage: Usage, window: Window, adding: int = 0) -> Reached | None:
    """The cap that ``usage`` (plus ``adding`` more parts) passes, the monthly one first (it
    lifts later); None when neither does. With ``adding`` 0, a cap is passed when reached."""
    for period, cap, used, until in (
        ("monthly", caps.monthly, usage.month, window.month_end),
        ("daily", caps.daily, usage.today, window.day_end),
    ):
        if cap is not None and (used + adding > cap if adding else used >= cap):
            return Reached(period, cap, until)
    return None


@dataclass(frozen=True, slots=True)
class PoolCaps:
    """The caps of each pool and of each key of a pool, from ``[pools."<pin>"]``."""

    pools: dict[str, Caps]
    keys: dict[str, Caps]

    @classmethod
    def from_config(cls, pools: dict[str, dict[str, Any]]) -> PoolCaps:
        return cls(
            {pin: Caps(t.get("daily_cap"), t.get("monthly_cap")) for pin, t in pools.items()},
            {
                pin: Caps(t.get("key_daily_cap"), t.get("key_monthly_cap"))
                for pin, t in pools.items()
            },
        )

    def pool(self, pin: str) -> Caps:
        return self.pools.get(pin, NO_CAPS)

    def key(self, pin: str) -> Caps:
        return self.keys.get(pin, NO_CAPS)


NO_POOL_CAPS = PoolCaps({}, {})


def counts(limit: Caps, used: Usage, verb: str = "sent") -> dict[str, int | None]:
    """``{"sent_today", "daily_cap", "sent_month", "monthly_cap"}`` (``verb``: accepted)."""
    return {
        f"{verb}_today": used.today,
        "daily_cap": limit.daily,
        f"{verb}_month": used.month,
        "monthly_cap": limit.monthly,
    }


@dataclass(frozen=True, slots=True)
class CapsPolicy:
    """Every cap of the config: a SIM's (by IMEI and ICCID, from [pacing]) and the pools'."""

    sim: Callable[[str, str], Pacing] = lambda _device_id, _iccid: NO_PACING
    pools: PoolCaps = NO_POOL_CAPS

    def key(self, pin: str) -> Caps:
        return self.pools.key(pin)

    def view(
        self, device: dict[str, Any], sim: Usage, pool: Usage, window: Window
    ) -> dict[str, Any]:
        """A device row's caps and counts, and what stops it now (``capped``: None, or
        "SIM daily cap of 400 SMS reached", with ``capped_until``)."""
        pacing = self.sim(device["device_id"], device["iccid"] or "")
        sim_caps = Caps(pacing.daily_cap, pacing.monthly_cap)
        pool_caps = self.pools.pool(device["pin"])
        hit, whose = reached(sim_caps, sim, window), "SIM"
        if hit is None:
            hit, whose = reached(pool_caps, pool, window), f"pool {device['pin']}"
        return {
            "sim_caps": counts(sim_caps, sim),
            "pool_caps": counts(pool_caps, pool),
            "capped": None if hit is None else hit.words(whose),
            "capped_until": None if hit is None else hit.until.isoformat(timespec="seconds"),
        }

    def rows(
        self, devices: list[dict[str, Any]], usage: dict[str, dict[str, Usage]], window: Window
    ) -> list[dict[str, Any]]:
        """Device rows with their caps (``usage``: ``store.pacing.device_usage``'s)."""
        return [
            {
                **d,
                **self.view(d, usage[d["device_id"]]["sim"], usage[d["device_id"]]["pool"], window),
            }
            for d in devices
        ]
