"""Token buckets per key, in this process only: request rate and failed authentications.

Each key (a token name, a client address) may spend `burst` at once, refilled at `rate`
per second. The state lives in the process, so N replicas allow N times the rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from service.errors import RateLimited

#: Keys kept before idle (full) buckets are forgotten.
MAX_KEYS = 10_000
#: Longest Retry-After answered, in seconds (a tiny rate would make it endless).
MAX_RETRY_AFTER = 86_400
#: Seconds a reservation waits at most for checks holding the whole bucket, and between
#: looks at it.
RESERVE_PATIENCE = 5.0
RESERVE_POLL = 0.01


class RateLimiter:
    """Token buckets of `burst` refilled at `rate` per second, one per key.

    `what` says what is limited and `settings` names the rate and burst settings, for
    the 429's message.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        what: str = "requests",
        settings: tuple[str, str] = ("SLUICE_RATE_LIMIT", "SLUICE_RATE_BURST"),
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.what = what
        self.settings = settings
        self._buckets: dict[str, tuple[float, float]] = {}
        #: Reservations still running, by key (`reserve`, `settle`).
        self._held: dict[str, int] = {}

    def _level(self, key: str, now: float) -> float:
        level, stamp = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), level + (now - stamp) * self.rate)

    def check(self, key: str) -> None:
        """429 with Retry-After if `key`'s bucket is empty; spends nothing."""
        now = self.clock()
        level = self._level(key, now)
        if level >= 1:
            return
        self._set(key, (level, now))
        raise self._limited(key, level)

    def _limited(self, key: str, level: float) -> RateLimited:
        retry_after = max(1, math.ceil(min((1 - level) / self.rate, MAX_RETRY_AFTER)))
        rate_name, burst_name = self.settings
        return RateLimited(
            f"more than {rate_name} ({self.rate:g} {self.what}/s, burst "
            f"{burst_name}={self.burst}) for {key}; retry after {retry_after}s",
            {"limit": rate_name, "rate": self.rate, "burst": self.burst,
             "retry_after": retry_after},
            retry_after,
        )  # fmt: skip

    def spend(self, key: str) -> None:
        """Take one from `key`'s bucket (it may go empty, never below zero)."""
        now = self.clock()
        self._set(key, (max(0.0, self._level(key, now) - 1), now))
        if len(self._buckets) > MAX_KEYS:
            self._forget_idle(now)

    def _set(self, key: str, bucket: tuple[float, float]) -> None:
        # Last used last: past MAX_KEYS the least recently used go first.
        self._buckets.pop(key, None)
        self._buckets[key] = bucket

    def take(self, key: str) -> None:
        """Spend one of `key`'s bucket; 429 with Retry-After when it is empty."""
        self.check(key)
        self.spend(key)

    async def reserve(self, key: str, patience: float = RESERVE_PATIENCE) -> None:
        """Hold one of `key`'s bucket for a check whose outcome is not known yet (then
        `settle` it): 429 when the bucket is empty; while it is held whole by checks
        still running, wait for them, up to `patience` seconds (then 429). Checks run
        at once are thus as limited as those run one after another, and right ones are
        kept waiting, not refused."""
        deadline = time.monotonic() + patience  # waiting is real time, whatever the clock
        while True:
            self.check(key)
            now = self.clock()
            held = self._held.get(key, 0)
            if self._level(key, now) - held >= 1:
                self._held[key] = held + 1
                return
            if time.monotonic() >= deadline:
                raise self._limited(key, max(0.0, self._level(key, now) - held))
            await asyncio.sleep(RESERVE_POLL)

    def settle(self, key: str, failed: bool) -> None:
        """End a `reserve`: a failed check spends one of the bucket, a right one not."""
        held = self._held.pop(key, 1) - 1
        if held > 0:
            self._held[key] = held
        if failed:
            self.spend(key)

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled is indistinguishable from a new one.
        for key, (level, stamp) in list(self._buckets.items()):
            if level + (now - stamp) * self.rate >= self.burst:
                del self._buckets[key]
        # Keys may come from clients (addresses): memory stays bounded even when none
        # is idle, at the cost of forgetting the least recently used first.
        for key in list(self._buckets)[: max(0, len(self._buckets) - MAX_KEYS)]:
            del self._buckets[key]
