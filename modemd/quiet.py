"""Quiet hours of a pool (``[pools."<pin>"] quiet_hours`` in its ``timezone``, the tables the
conversations engine reads too): campaign (bulk-lane) jobs wait; high-lane sends go at any
hour. No I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modemd.conversations.engine import PoolPolicy, quiet_until


def quiet_hours(pools: dict[str, dict[str, Any]]) -> Callable[[str, float], float | None]:
    """``(pin, instant) -> when its quiet hours end`` (None: not quiet then) from the config's
    ``[pools."<pin>"]`` tables."""
    policies = {pin: PoolPolicy.from_config(table) for pin, table in pools.items()}
    return lambda pin, instant: quiet_until(policies[pin], instant) if pin in policies else None
