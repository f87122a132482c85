"""A campaign's rows against its key's limits, as ``/send`` checks a send: the hourly
destination limits (``[limits]``: a row over one is skipped and recorded as a refusal, as
``/send`` refuses it with code 11) and the key's daily and monthly caps (the campaign pauses
with the reason, as ``/send`` refuses with code 9). Counted once per batch of rows, then kept
up to date in memory as the batch's jobs are made (the batch is one transaction)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlite_utils

from modemd import caps
from modemd.caps import NO_CAPS, Caps, Usage
from modemd.store import pacing, refusals
from modemd.store.accept import LIMIT_WINDOW_S, DestinationLimits

IN_CHUNK = 500  # numbers per ``IN (...)`` (SQLite's default limit of variables is 32,766)


@dataclass(slots=True)
class HourlyCounts:
    """Sends of one key in the last hour, by recipient and by number prefix."""

    limits: DestinationLimits
    recipients: Counter[str] = field(default_factory=Counter)
    prefixes: Counter[str] = field(default_factory=Counter)

    def prefix(self, to: str) -> str:
        return to[: self.limits.prefix_digits + (1 if to.startswith("+") else 0)]

    def over(self, to: str) -> tuple[str, str] | None:
        """``(reason, detail)`` when one more send to ``to`` passes a limit (as ``/send``)."""
        for limit, counts, value, reason in (
            (self.limits.per_recipient_per_hour, self.recipients, to, "recipient_limit"),
            (self.limits.per_prefix_per_hour, self.prefixes, self.prefix(to), "prefix_limit"),
        ):
            if limit is not None and counts[value] >= limit:
                return reason, (
                    f"{counts[value]} sends to {value} in the last hour; this key's limit is "
                    f"{limit}"
                )
        return None

    def add(self, to: str) -> None:
        self.recipients[to] += 1
        self.prefixes[self.prefix(to)] += 1


def hourly_counts(
    db: sqlite_utils.Database,
    key_id: int,
    numbers: list[str],
    limits: DestinationLimits,
    now: float,
) -> HourlyCounts:
    """The key's sends of the last hour to ``numbers`` and to their prefixes."""
    found = HourlyCounts(limits)
    since = now - LIMIT_WINDOW_S
    if limits.per_recipient_per_hour is not None:
        distinct = sorted(set(numbers))
        for start in range(0, len(distinct), IN_CHUNK):
            chunk = distinct[start : start + IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for to, count in db.execute(
                "SELECT to_number, count(*) FROM jobs WHERE key_id = ? AND created_at >= ? "
                f"AND to_number IN ({marks}) GROUP BY to_number",
                [key_id, since, *chunk],
            ):
                found.recipients[to] = int(count)
    if limits.per_prefix_per_hour is not None:
        for width in sorted({len(found.prefix(to)) for to in numbers}):
            for prefix, count in db.execute(
                "SELECT substr(to_number, 1, ?), count(*) FROM jobs WHERE key_id = ? "
                "AND created_at >= ? GROUP BY 1",
                [width, key_id, since],
            ):
                if len(prefix) == width:
                    found.prefixes[prefix] += int(count)
    return found


def refuse_row(
    db: sqlite_utils.Database, key_id: int, campaign_id: str, to: str, why: tuple[str, str]
) -> None:
    """Keep the refusal as ``/send``'s are kept (``modemd jobs --refused``)."""
    reason, detail = why
    refusals.record_refusal(db, key_id, to, reason, f"campaign {campaign_id}: {detail}")


@dataclass(slots=True)
class CapRoom:
    """The key's caps against what it has accepted so far (this batch included)."""

    limit: Caps
    window: caps.Window
    usage: Usage

    def over(self, parts: int) -> str | None:
        """Why ``parts`` more would pass a cap (None: they fit), in words for ``reason``."""
        hit = caps.reached(self.limit, self.usage, self.window, adding=parts)
        if hit is None:
            return None
        used = self.usage.today if hit.period == "daily" else self.usage.month
        return (
            f"{hit.words('the key')}: {used} parts accepted; it lifts at "
            f"{hit.until.isoformat(timespec='seconds')} (resume then)"
        )

    def add(self, parts: int) -> None:
        self.usage = Usage(self.usage.today + parts, self.usage.month + parts)


def cap_room(db: sqlite_utils.Database, key_id: int, limit: Caps) -> CapRoom | None:
    """None when the key has no cap."""
    if limit == NO_CAPS or not limit.any:
        return None
    window = caps.window()
    return CapRoom(limit, window, pacing.key_usage(db, key_id, window))
