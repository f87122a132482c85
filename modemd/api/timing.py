"""When a job may go and until when: ``send_at``, ``valid_until`` / ``ttl`` and ``lane`` of a
request, read and checked. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from modemd.api.contract import StatusCode
from modemd.api.validation import RequestError
from modemd.model import Lane

MAX_AHEAD_S = 366 * 24 * 3600.0  # send_at at most a year ahead (a leap year included)
PAST_SLACK_S = 60.0  # a send_at this far in the past is "now" (clocks of clients drift)
MAX_TTL_S = 366 * 24 * 3600.0
# The fields parse_timing reads: a send with none of them (as a rule) takes the key's defaults.
TIMING_FIELDS = frozenset({"lane", "timezone", "send_at", "valid_until", "ttl"})
_ZONE_SUFFIX = re.compile(r"^(?P<when>[^\s\[]+)(?:\s+(?P<zone>\S+)|\[(?P<bracket>[^\]]+)\])$")


@dataclass(frozen=True, slots=True)
class Timing:
    lane: Lane | None  # None: the key's default lane
    send_at: float | None  # Unix seconds; None: at once
    valid_until: float | None  # None: max(accepted, send_at) + the key's max queue age


NO_TIMING = Timing(lane=None, send_at=None, valid_until=None)  # none of TIMING_FIELDS given


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """An IANA time zone, or ``RequestError`` naming the field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'{field}': unknown time zone {name!r}"
        ) from exc


def parse_instant(value: Any, field: str, default_zone: str | None = None) -> float:
    """ISO-8601 with an offset (``2026-12-01T09:00:00+01:00``), a local time with a zone name
    (``2026-12-01T09:00:00 Europe/Rome`` or ``...[Europe/Rome]``, or the ``timezone`` field), or
    Unix seconds."""
    if isinstance(value, bool):
        raise RequestError(StatusCode.PARAM_ERROR, f"'{field}' must be a time")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise RequestError(StatusCode.PARAM_ERROR, f"'{field}' must be an ISO-8601 time")
    text = value.strip()
    match = _ZONE_SUFFIX.match(text)
    name = default_zone
    if match and (match["zone"] or match["bracket"]):
        text, name = match["when"], match["zone"] or match["bracket"]
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RequestError(
            StatusCode.PARAM_ERROR, f"'{field}' is not an ISO-8601 time: {value[:40]!r}"
        ) from exc
    if when.tzinfo is None:
        if name is None:
            raise RequestError(
                StatusCode.PARAM_ERROR,
                f"'{field}' needs an offset (+01:00, Z) or a time zone name: {value[:40]!r}",
            )
        when = when.replace(tzinfo=zone(name, field))
    return when.timestamp()


def parse_send_at(value: Any, now: float, default_zone: str | None = None) -> float | None:
    """``send_at`` checked: not in the past, at most a year ahead; None when it is now."""
    if value is None or value == "":
        return None
    when = parse_instant(value, "send_at", default_zone)
    if when < now - PAST_SLACK_S:
        raise RequestError(StatusCode.PARAM_ERROR, "'send_at' is in the past")
    if when > now + MAX_AHEAD_S:
        raise RequestError(StatusCode.PARAM_ERROR, "'send_at' is more than one year ahead")
    return when if when > now else None


def parse_timing(fields: dict[str, Any], now: float) -> Timing:
    """``lane``, ``send_at`` (+ ``timezone``), ``valid_until`` or ``ttl`` (seconds)."""
    if TIMING_FIELDS.isdisjoint(fields):
        return NO_TIMING
    lane_value = fields.get("lane")
    lane = None
    if lane_value not in (None, ""):
        try:
            lane = Lane(str(lane_value))
        except ValueError as exc:
            raise RequestError(
                StatusCode.PARAM_ERROR,
                f"'lane' must be one of {', '.join(v.value for v in Lane)}",
            ) from exc
    tz = fields.get("timezone")
    if tz not in (None, ""):
        zone(str(tz))
    default_zone = str(tz) if tz not in (None, "") else None
    send_at = parse_send_at(fields.get("send_at"), now, default_zone)
    starts = send_at or now
    valid_until = None
    if fields.get("valid_until") not in (None, "") and fields.get("ttl") not in (None, ""):
        raise RequestError(StatusCode.PARAM_ERROR, "give 'valid_until' or 'ttl', not both")
    if fields.get("valid_until") not in (None, ""):
        valid_until = parse_instant(fields["valid_until"], "valid_until", default_zone)
        if valid_until <= starts:
            raise RequestError(
                StatusCode.PARAM_ERROR, "'valid_until' must be after now and after 'send_at'"
            )
    elif fields.get("ttl") not in (None, ""):
        valid_until = starts + parse_ttl(fields["ttl"])
    return Timing(lane=lane, send_at=send_at, valid_until=valid_until)


def parse_ttl(value: Any) -> float:
    """Seconds, > 0, at most a year."""
    try:
        ttl = float(value)
    except (TypeError, ValueError) as exc:
        raise RequestError(StatusCode.PARAM_ERROR, "'ttl' must be a number of seconds") from exc
    if isinstance(value, bool) or not 0 < ttl <= MAX_TTL_S:
        raise RequestError(StatusCode.PARAM_ERROR, "'ttl' must be between 1 s and one year")
    return ttl
