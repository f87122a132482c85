"""Per-key rate limit: a token bucket per key, in memory (a restart forgives everyone)."""

from __future__ import annotations

import time
from collections.abc import Callable

SECONDS_PER_MINUTE = 60.0


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
