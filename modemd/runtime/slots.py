"""When a schedule fires: a cron expression (croniter) or an RFC 5545 RRULE (python-dateutil),
read in a time zone's wall-clock time. No I/O.

Slots are wall-clock times turned into instants one by one, so daylight saving time is
handled the way people expect: a wall time that does not exist (02:30 on a spring-forward day)
fires once, at the same offset as before the change (03:30 new time); one that happens twice
(02:30 on a fall-back day) fires once, at its first occurrence."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

NEVER_HORIZON_DAYS = 366 * 5  # a rule with no slot in five years never fires (Feb 30)
DST_MARGIN = timedelta(hours=3)  # offset changes are at most 2 h (Troll: 2 h; most 1 h)


class RuleError(ValueError):
    """A cron expression or RRULE that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # cron | rrule
    expression: str
    timezone: str
    start: float  # the rule's epoch: slots are after it (RRULE's DTSTART when it has none)
    # An RRULE without COUNT restarts from its last slot's wall time (dateutil walks every
    # occurrence from DTSTART: a per-minute rule would slow down month after month).
    anchor: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _wall(instant: float, zone: ZoneInfo) -> datetime:
    """``instant`` as naive wall-clock time in ``zone``."""
    return datetime.fromtimestamp(instant, UTC).astimezone(zone).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo) -> float:
    """A naive wall-clock time as an instant: fold 0 is the first of two, and a time in a
    spring-forward gap keeps the offset from before the gap (02:30 -> 03:30 new time)."""
    return wall.replace(tzinfo=zone, fold=0).timestamp()


def _walls(rule: Rule, after_wall: datetime) -> Iterator[datetime]:
    """Wall-clock slots strictly after ``after_wall``, in order."""
    if rule.kind == "cron":
        from croniter import CroniterBadDateError, croniter  # only where schedules are used

        cron = croniter(rule.expression, after_wall)
        while True:
            try:
                yield cron.get_next(datetime)
            except CroniterBadDateError:
                return
    else:
        dtstart = rule.anchor or _wall(rule.start, rule.zone)
        parsed = rrulestr(rule.expression, dtstart=dtstart, ignoretz=True)
        assert isinstance(parsed, rrule)  # check() refuses RRULE sets
        current = parsed.after(after_wall)
        while current is not None:
            yield current
            current = parsed.after(current)


def next_slots(rule: Rule, after: float, count: int = 1) -> list[float]:
    """Up to ``count`` slots strictly after the instant ``after`` (fewer when the rule ends)."""
    return [instant for instant, _ in slots_with_walls(rule, after, count)]


def anchorable(rule: Rule) -> bool:
    """May the rule restart from one of its slots (an RRULE without COUNT)?"""
    return rule.kind == "rrule" and "COUNT=" not in rule.expression.upper()


def slots_with_walls(rule: Rule, after: float, count: int) -> list[tuple[float, datetime]]:
    """``next_slots`` with each slot's wall-clock time (an anchor for ``Rule.anchor``)."""
    zone = rule.zone
    base = max(after, rule.start)
    # Across a spring-forward gap wall times and instants are not in the same order (02:30
    # in the gap is 03:30 new time, after 03:00): near an offset change, look a few hours
    # of wall time around the slots found.
    lookback = DST_MARGIN if _shifts(zone, base) else timedelta(0)
    found: dict[float, datetime] = {}
    stop_wall: datetime | None = None
    for wall in _walls(rule, _wall(base, zone) - lookback):
        if stop_wall is not None and wall > stop_wall:
            break
        instant = _instant(wall, zone)
        if instant > base or (instant > after and instant >= rule.start):
            found.setdefault(instant, wall)
        if len(found) >= count and stop_wall is None:
            stop_wall = wall + (DST_MARGIN if _shifts(zone, instant) else timedelta(0))
    return sorted(found.items())[:count]


def _shifts(zone: ZoneInfo, instant: float) -> bool:
    """Does ``zone``'s UTC offset change within a day of ``instant``?"""
    before = datetime.fromtimestamp(instant - 86400, UTC).astimezone(zone).utcoffset()
    later = datetime.fromtimestamp(instant + 86400, UTC).astimezone(zone).utcoffset()
    return before != later


def check(kind: str, expression: str, timezone: str, start: float) -> Rule:
    """A usable rule, or ``RuleError``: a bad expression, an unknown zone, or one that never
    fires (within five years of ``start``)."""
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError) as exc:
        raise RuleError(f"unknown time zone {timezone!r}") from exc
    if kind == "cron":
        if not croniter.is_valid(expression):
            raise RuleError(f"not a cron expression: {expression!r}")
    elif kind == "rrule":
        try:
            parsed = rrulestr(expression, dtstart=_wall(start, zone), ignoretz=True)
        except (ValueError, TypeError) as exc:
            raise RuleError(f"not an RRULE: {exc}") from exc
        if not isinstance(parsed, rrule):
            raise RuleError("one RRULE only (no RDATE/EXDATE sets)")
    else:
        raise RuleError(f"kind must be cron or rrule, not {kind!r}")
    rule = Rule(kind, expression, timezone, start)
    try:
        first = next_slots(rule, start)
    except (CroniterBadCronError, CroniterBadDateError, ValueError) as exc:
        raise RuleError(f"{kind} {expression!r}: {exc}") from exc
    if not first or first[0] > start + NEVER_HORIZON_DAYS * 86400:
        raise RuleError(f"{kind} {expression!r} never fires")
    return rule
