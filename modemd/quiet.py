"""Quiet hours of a pool (``[pools."<pin>"] quiet_hours`` in its ``timezone``): when campaign
(bulk-lane) jobs wait; high-lane sends go at any hour. No I/O."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WINDOW = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-4]):([0-5]\d)\s*$")

Window = tuple[time, time]  # start, end (end <= start: the window crosses midnight)


def parse_windows(value: str | list[str]) -> tuple[Window, ...]:
    """``"21:00-08:00"`` or a list of such; ``ValueError`` naming a malformed one."""
    windows = []
    for text in [value] if isinstance(value, str) else value:
        match = _WINDOW.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        end = time(0, 0) if h2 == 24 else time(h2, m2)
        windows.append((time(h1, m1), end))
    return tuple(windows)


def zone(name: str | None) -> ZoneInfo | None:
    """An IANA zone (None: the machine's local time); ``ValueError`` when unknown."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def is_quiet(windows: tuple[Window, ...], tz: ZoneInfo | None, instant: float) -> bool:
    """Is ``instant`` inside one of the windows, in the zone's wall-clock time?"""
    now = datetime.fromtimestamp(instant, UTC).astimezone(tz).time()
    for start, end in windows:
        if start < end and start <= now < end:
            return True
        if start >= end and (now >= start or now < end):  # across midnight (or all day)
            return True
    return False


def quiet_hours(pools: dict[str, dict[str, object]]) -> Callable[[str, float], bool]:
    """``(pin, instant) -> quiet?`` from the config's ``[pools."<pin>"]`` tables."""
    rules = {}
    for pin, table in pools.items():
        hours = table.get("quiet_hours")
        if hours:
            rules[pin] = (parse_windows(hours), zone(table.get("timezone")))  # type: ignore[arg-type]
    return lambda pin, instant: pin in rules and is_quiet(*rules[pin], instant)
