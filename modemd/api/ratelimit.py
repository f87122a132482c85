"""Rate limits in memory (a restart forgives everyone): a token bucket per key, and one per
caller address for failed authentications (guessing keys)."""

from __future__ import annotations

import time
from collections.abc import Callable

SECONDS_PER_MINUTE = 60.0
FAILED_AUTH_PER_MINUTE = 10  # wrong keys per caller address; a person mistyping stays far below
FAILED_AUTH_ADDRESSES = 10_000  # addresses remembered; the oldest are forgotten first


class RateLimiter:
    """``rate`` requests per minute, with bursts up to ``rate``; the clock is injectable."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key_id -> (tokens, at)

    def wait_s(self, key_id: int, rate: int | None) -> float:
        """Take one token for ``key_id``: 0.0 if allowed, else seconds until one is free."""
        if rate is None:
            return 0.0
        now = self._clock()
        tokens, at = self._buckets.get(key_id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - at) * rate / SECONDS_PER_MINUTE)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) * SECONDS_PER_MINUTE / rate


class FailedAuthLimiter:
    """Failed authentications per caller address: a bucket of ``per_minute`` tokens, one taken
    by each failure; an empty bucket refuses the address's requests until it refills."""

    def __init__(
        self, per_minute: int = FAILED_AUTH_PER_MINUTE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def _tokens(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (float(self.per_minute), now))
        return min(
            float(self.per_minute), tokens + (now - at) * self.per_minute / SECONDS_PER_MINUTE
        )

    def wait_s(self, address: str) -> float:
        """0.0 when ``address`` may try a key now, else seconds until it may."""
        if address not in self._buckets:  # never failed (or forgotten): a full bucket
            return 0.0
        tokens = self._tokens(address, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) * SECONDS_PER_MINUTE / self.per_minute

    def failed(self, address: str) -> None:
        """``address`` presented a wrong key."""
        now = self._clock()
        tokens = self._tokens(address, now)
        self._buckets.pop(address, None)  # re-inserted last: dict order is age order
        self._buckets[address] = (max(0.0, tokens - 1.0), now)
        while len(self._buckets) > FAILED_AUTH_ADDRESSES:
            self._buckets.pop(next(iter(self._buckets)))
