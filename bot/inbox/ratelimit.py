"""Per-client request budgets (Open311): a token bucket per client address, in this process's memory.

Each replica keeps its own buckets, so N replicas allow N times the budget; that still turns "300
bad keys in 1.7 s" into a handful per minute. The client address is ``request.client.host`` (the TCP
peer, or what a configured trusted proxy reports; see ``inbox_trusted_proxies``).
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """``limit`` events per ``per`` seconds per key, refilled continuously (bursts up to ``limit``)."""

    def __init__(self, limit: int, per: float, *, clock=time.monotonic, max_keys: int = 100_000):
        self.limit, self.per, self.clock, self.max_keys = limit, per, clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.limit), now))
        return min(float(self.limit), tokens + (now - at) * self.limit / self.per)

    def wait(self, key: str) -> int:
        """Seconds until ``key`` may act again (0 = now), without spending anything."""
        now = self.clock()
        with self._lock:
            tokens = self._tokens(key, now)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) * self.per / self.limit))

    def hit(self, key: str) -> int:
        """Spend one event for ``key``; returns 0 when allowed, else the seconds to wait (nothing spent)."""
        now = self.clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens < 1:
                return max(1, math.ceil((1 - tokens) * self.per / self.limit))
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # bound memory under a spray of addresses
            self._buckets[key] = (tokens - 1, now)
            return 0
