"""Times as people write and read them: ISO-8601 or Unix seconds in, local ISO-8601 out."""

from __future__ import annotations

import math
from datetime import datetime


def parse_time(text: str) -> float:
    """Unix seconds (``1764590400``, ``1764590400.5``) or ISO-8601 (local time unless it has an
    offset); ValueError otherwise."""
    try:
        seconds = float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()
    if not math.isfinite(seconds):
        raise ValueError(f"not a time: {text}")
    return seconds


def local_iso(seconds: float) -> str:
    """``2026-12-01T16:02:03+01:00``: the machine's local time, to the second, with its offset."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")
