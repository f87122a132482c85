"""An outbox event's JSON body, made once at creation (signed as is): the hot path writes two
a send, so its timestamp's date part is formatted once a second and the encoder is made once."""

from __future__ import annotations

import json
import math
import time
from typing import Any

# One compact encoder for every body (``json.dumps`` with separators builds an encoder a call).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_second: tuple[int, str] = (-1, "")  # (Unix second, its "YYYY-MM-DDTHH:MM:SS" in UTC)


def timestamp(now: float) -> str:
    """``now`` as ``datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")``
    writes it (milliseconds truncated, ``+00:00``)."""
    global _second
    fraction, whole = math.modf(now)  # rounded to the microsecond first, as datetime does
    micro = round(fraction * 1_000_000)
    second = int(whole) + micro // 1_000_000
    if _second[0] != second:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second[1]}.{micro % 1_000_000 // 1000:03d}+00:00"


def event_body(type_: str, event_id: str, now: float, data: dict[str, Any]) -> str:
    """The body an IPN receiver gets: type, id, timestamp and the event's data."""
    return _ENCODE({"type": type_, "event_id": event_id, "timestamp": timestamp(now), "data": data})
