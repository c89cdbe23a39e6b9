"""The vendor-quota governor: every call to a tenant takes a token from one budget shared by
every thread, process and host that calls that tenant.

MetaStudio throttles per tenant, for every caller together (docs/vendors/huawei-metastudio.md
§10: about 20 requests/s in cn-north-4, 10 elsewhere); a dashboard that spends it all starves
the team's own production calls. So a budget (CloudAccount.max_rps, by default half the
vendor's documented rate) is enforced before a request leaves, not discovered from 429s.

The bucket is pyrate-limiter's sliding-window log: at most N calls in any window of
``N / rps`` seconds (a burst of N, then the steady rate). Its backend is chosen once per
process (see ``backend_url``):

- Redis (``RATE_LIMIT_URL=redis://…``, or the Celery broker's Redis): one budget across hosts;
- a SQLite file under DATA_DIR with a file lock (the embedded default): one budget across the
  processes and threads of one host.

pyrate-limiter rather than ``limits``: ``limits`` has no store that works across processes
without a server (memory, Redis, Memcached, MongoDB) and no blocking acquire, while
pyrate-limiter has a file-locked SQLite bucket for the embedded default, a Redis bucket with an
atomic Lua check-and-insert for production, and a blocking ``try_acquire`` with a timeout.

A 429 (or the vendor's throttling code, whatever its status) means the tenant is busier than
the budget assumed (other callers): for THROTTLE_PENALTY_SECONDS after one, each call takes two
tokens, halving the rate, then the rate recovers by itself. The penalty is per tenant and per
process: every account of the tenant in this process slows down together (whatever its own
budget), and every process calling a throttled tenant meets the throttling itself.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from pathlib import Path

import redis
from django.conf import settings
from pyrate_limiter import Limiter, Rate
from pyrate_limiter.buckets import RedisBucket, SQLiteBucket

from jobs.providers.base import TransportError

# After a 429 (or a throttling code), calls to that tenant take two tokens for this long.
THROTTLE_PENALTY_SECONDS = 60.0
# A call waits at most this long for a token; then it fails as a transient error (the sync
# run records it and the next run retries), rather than holding a worker for ever.
MAX_WAIT_SECONDS = 120.0
# Budget for a vendor that documents no rate (CI, docs/vendors/tencent-ci.md §13).
DEFAULT_RPS = 5.0


def default_rps(documented: float | None) -> float:
    """Half the vendor's documented per-tenant rate (the other half is the team's own), or
    DEFAULT_RPS when the vendor documents none."""
    return documented / 2 if documented else DEFAULT_RPS


def rate_for(rps: float) -> Rate:
    """At most ``limit`` calls in any ``interval`` ms: a burst of about one second's worth."""
    limit = max(1, round(rps))
    return Rate(limit, max(1, round(1000 * limit / rps)))


def rates_for(rps: float) -> list[Rate]:
    """The budget as pyrate-limiter rates: ``rate_for(rps)``, and no more than a quarter of it
    in any quarter of its window. The vendor's limiter is a token bucket some way off: network
    and scheduling delays bunch calls up on the way, so small bursts leave its bucket room.
    (tests/test_tasks_worker_quota.py: three workers at a budget of 8 against a vendor limit of
    10 met 429s with one-second bursts and the blocking wait; none with these rates and _take.)"""
    rate = rate_for(rps)
    if rate.limit < 4:
        return [rate]
    return [Rate(math.ceil(rate.limit / 4), max(1, rate.interval // 4)), rate]


def bucket_key(key: str) -> str:
    """The name of tenant ``key``'s log of calls: its Redis key (hashed, its SQLite table)."""
    return f"tod-quota:{key}"


# Tenant key -> when (on the clock of the governor that saw it) its slow-down ends: one per
# tenant, so a throttled answer to one account's call slows every account of that tenant.
_penalty_lock = threading.Lock()
_penalty_until: dict[str, float] = {}


class Governor:
    """One tenant's budget as seen by this process: ``acquire()`` before every call."""

    def __init__(self, key: str, rps: float, limiter: Limiter, *, clock=time.monotonic):
        self.key = key
        self.rps = rps
        self._limiter = limiter
        self._clock = clock

    def __repr__(self):
        return f"<Governor {self.key} {self.rps:g}/s>"

    def acquire(self) -> None:
        """Wait for a token (two while the tenant throttled us lately), MAX_WAIT_SECONDS at most
        in all."""
        deadline = self._clock() + MAX_WAIT_SECONDS
        for _ in range(2 if self.penalised else 1):
            if not self._take(deadline):
                raise TransportError(
                    f"no request budget for {self.key} within {MAX_WAIT_SECONDS:.0f}s "
                    f"({self.rps:g} requests/s shared by every sync of this tenant)",
                    code="quota_wait",
                )

    def _take(self, deadline: float) -> bool:
        """Poll for a token until ``deadline`` (on self._clock) without blocking in pyrate-limiter:
        its blocking wait stamps the call with the time it planned to wake, not the time it did,
        so under contention the log runs early and lets too many calls through (11 in 0.9 s at a
        budget of 10 across four threads, tests/test_quota.py). A fresh attempt is stamped when
        it is made."""
        pause = min(0.1, max(0.005, 0.25 / self.rps))
        while True:
            try:
                # One attempt: a 1 ms timeout, since pyrate-limiter's non-blocking mode passes
                # arguments filelock's lock refuses (TypeError).
                if self._limiter.try_acquire(self.key, blocking=True, timeout=0.001):
                    return True
            except TimeoutError:  # no token, or another process held the file lock
                pass
            if self._clock() >= deadline:
                return False
            time.sleep(pause * (0.5 + random.random()))  # spread the waiters out

    def throttled(self) -> None:
        """The vendor throttled us (429 or its throttling code): the tenant slows down to half
        its budget for a while, through every governor of it in this process."""
        with _penalty_lock:
            _penalty_until[self.key] = self._clock() + THROTTLE_PENALTY_SECONDS

    @property
    def penalised(self) -> bool:
        with _penalty_lock:
            until = _penalty_until.get(self.key, 0.0)
        return self._clock() < until


def backend_url() -> str:
    """Where budgets live: RATE_LIMIT_URL, else the Celery broker when it is Redis, else a
    SQLite file in DATA_DIR (one host)."""
    url = getattr(settings, "RATE_LIMIT_URL", "")
    if url:
        return url
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        return broker
    return "sqlite:///" + str(Path(settings.DATA_DIR) / "quota.sqlite3")


_lock = threading.Lock()
_governors: dict[tuple[str, str, float], Governor] = {}


def governor(key: str, rps: float) -> Governor:
    """This process's governor of tenant ``key`` at ``rps`` (one per key and budget; the penalty
    after a throttled answer is kept per key, so every provider of the tenant in this process
    sees it, whatever its budget)."""
    url = backend_url()
    cache_key = (url, key, rps)
    with _lock:
        found = _governors.get(cache_key)
        if found is None:
            found = _governors[cache_key] = Governor(key, rps, _limiter(url, key, rps))
        return found


def _limiter(url: str, key: str, rps: float) -> Limiter:
    # One log of calls per tenant. Accounts of one tenant with different budgets each keep
    # to their own budget over the calls of all of them: the tenant never sees more than the
    # largest budget among them.
    name = bucket_key(key)
    rates = rates_for(rps)
    if url.startswith(("redis://", "rediss://")):
        bucket = RedisBucket.init(rates, redis.Redis.from_url(url), name)
    elif url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        table = "quota_" + hashlib.sha1(name.encode()).hexdigest()[:16]
        bucket = SQLiteBucket.init_from_file(rates, table=table, db_path=path, use_file_lock=True)
    else:
        raise ValueError(f"RATE_LIMIT_URL must be redis://… or sqlite:///…, got {url.split(':')[0]}:")
    return Limiter(bucket)


def reset_cache() -> None:
    """Forget this process's governors and penalties (tests that switch backends)."""
    with _lock:
        _governors.clear()
    with _penalty_lock:
        _penalty_until.clear()
