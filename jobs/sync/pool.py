"""Vendor reads in flight at once: the detail phase, reads by id and tracked short jobs share it.

Each read still takes its token from the tenant's quota governor (jobs/providers/quota.py); the
point is latency: at 100 ms a round trip, one read at a time reaches only 10 requests/s, below
a 20/s budget (bench/quota). The reads run on pool threads and touch no database: results come
back to the sync's own thread, which stores them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings

from jobs.providers.base import AuthError, ConfigError, ProviderError

T = TypeVar("T")
R = TypeVar("R")


def stops_reads(exc: ProviderError) -> bool:
    """Throttled, down, unauthorised or misconfigured: the remaining reads would fail the same
    way. (A permanent error about one job, such as a malformed body, does not stop the others.)"""
    return not exc.permanent or isinstance(exc, (AuthError, ConfigError))


def read_concurrently(read: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R | None, ProviderError | None]]:
    """``(item, read(item), None)`` or ``(item, None, error)`` for each item, in order, with up to
    SYNC_DETAIL_CONCURRENCY reads in flight. After an error that stops_reads, no new read
    starts: the items not read yet come back as ``(item, None, None)``. Close the generator
    (contextlib.closing) to stop early: reads not started are cancelled."""
    stop = threading.Event()

    def guarded(item: T) -> tuple[T, R | None, ProviderError | None]:
        if stop.is_set():
            return item, None, None
        try:
            return item, read(item), None
        except ProviderError as exc:
            if stops_reads(exc):
                stop.set()
            return item, None, exc

    pool = ThreadPoolExecutor(max_workers=max(1, settings.SYNC_DETAIL_CONCURRENCY), thread_name_prefix="sync-read")
    try:
        yield from pool.map(guarded, items)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
