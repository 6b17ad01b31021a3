"""Per-caller request rate: a token bucket per key, in this process only.

Each key (a token name) may send `burst` requests at once, refilled at `rate` per
second. The state lives in the process, so N replicas allow N times the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from service.errors import RateLimited

#: Keys kept before idle (full) buckets are forgotten.
MAX_KEYS = 10_000


class RateLimiter:
    """Token buckets of `burst` requests refilled at `rate` per second, one per key."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        """Spend one request of `key`'s bucket; 429 with Retry-After when it is empty."""
        now = self.clock()
        level, stamp = self._buckets.get(key, (float(self.burst), now))
        level = min(float(self.burst), level + (now - stamp) * self.rate)
        if level < 1:
            self._buckets[key] = (level, now)
            retry_after = max(1, math.ceil((1 - level) / self.rate))
            raise RateLimited(
                f"more than SLUICE_RATE_LIMIT ({self.rate:g} requests/s, burst "
                f"SLUICE_RATE_BURST={self.burst}) for {key}; retry after {retry_after}s",
                {
                    "limit": "SLUICE_RATE_LIMIT",
                    "rate": self.rate,
                    "burst": self.burst,
                    "retry_after": retry_after,
                },
                retry_after,
            )
        self._buckets[key] = (level - 1, now)
        if len(self._buckets) > MAX_KEYS:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled is indistinguishable from a new one.
        for key, (level, stamp) in list(self._buckets.items()):
            if level + (now - stamp) * self.rate >= self.burst:
                del self._buckets[key]
