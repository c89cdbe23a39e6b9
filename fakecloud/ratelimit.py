"""A per-tenant request limit: one token bucket per MetaStudio project and per CI bucket owner.

The vendors throttle per tenant and per second (docs/vendors/huawei-metastudio.md §10: 429
APIGW.0308 "policy user over ratelimit, limit:N, time:1 second"; tencent-ci.md §13: no published
limit, throttling answers SlowDown). fakecloud's limit is one number N: N requests a second with a
burst of N, per tenant. The buckets run on the real (monotonic) clock, not the virtual one: a
limit is about how fast a client really calls, so `--speed` and `advance()` do not touch it.
"""

import math
import threading
import time


def parse_rps(value):
    """A request rate from the CLI or the control API; None (or JSON null) turns the limit off."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("rps must be a number")
    try:
        rps = float(value)
    except (TypeError, ValueError):
        raise ValueError("rps must be a number") from None
    if not (rps > 0 and math.isfinite(rps)):
        raise ValueError("rps must be > 0 (null turns the limit off)")
    return int(rps) if rps == int(rps) else rps


class RateLimiter:
    def __init__(self, rps=None, clock=time.monotonic):
        self._lock = threading.Lock()
        self.clock = clock  # tests swap in a hand-moved clock, so "immediately after" is exact
        self.set(rps)

    def set(self, rps):
        """N requests a second with a burst of N, or None for no limit; every budget starts full."""
        rps = parse_rps(rps)
        with self._lock:
            self.rps = rps
            self._buckets = {}  # tenant -> (tokens, monotonic time of the last refill)

    @property
    def burst(self):
        # Below 1 r/s a burst of N would admit nothing at all: one request, then one every 1/N s.
        return None if self.rps is None else max(self.rps, 1)

    def describe(self):
        with self._lock:
            return {"rps": self.rps, "burst": self.burst}

    def take(self, tenant):
        """Spend one request of the tenant's budget: None when it may pass, else (seconds until
        it could, the rate) -- a refused request spends nothing, so retrying at the rate works."""
        with self._lock:
            if self.rps is None or tenant is None:
                return None
            now = self.clock()
            burst = self.burst
            tokens, last = self._buckets.get(tenant, (burst, now))
            tokens = min(burst, tokens + (now - last) * self.rps)
            if tokens >= 1:
                self._buckets[tenant] = (tokens - 1, now)
                return None
            self._buckets[tenant] = (tokens, now)
            return (1 - tokens) / self.rps, self.rps
