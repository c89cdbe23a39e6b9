"""The incremental refresh of one listable kind: read only what can have changed.

A full listing costs one call per 100 jobs on every refresh (1,000 calls for 100,000 jobs), all
against a tenant quota of 10–20 requests/s. Between full listings (CloudAccount.
full_sync_interval) a refresh relies only on documented list parameters:

1. the jobs in the states the vendor moves by itself (the ``state`` / ``states`` filter:
   queued, reviewing, running; jobs.status.moving_states), and every SYNC_WAITING_INTERVAL
   (SyncRun mode ``waiting``) the jobs waiting on a person as well (needs action, paused:
   jobs.status.waiting_states). Those wait for an upload, a confirmation or a resume, often
   for good (an abandoned draft), and a person's action normally moves them into a state of
   the first kind, which the next refresh lists;
2. the head of the listing, newest first, until a page holds no job unknown before this refresh:
   jobs created since the last refresh, including any that settled before we saw them;
3. each cached job of the states listed in 1 that is not listed any more, read once by id
   (Provider.get_jobs; CI reads many ids in one call): it settled, or started waiting on a
   person, so this is its current state.

Creation and update times are not used: their query formats are undocumented and the avatar
``last_update_time`` moves on user edits, not on state changes (docs/vendors/huawei-metastudio.md
§11). What this misses until the next full listing: a settled job that changes again without
becoming unsettled, a payload edit of a settled job, and jobs that vanished (only a full
listing marks jobs gone); until the next ``waiting`` refresh: a job waiting on a person that
settles or changes without passing through a moving state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings

from jobs.models import SETTLED_STATUSES, WAITING_STATUSES, Job
from jobs.providers.base import Detail, JobRecord, NotFoundError, Page, ProviderError
from jobs.status import moving_states, waiting_states
from jobs.sync.details import store_details
from jobs.sync.kind import KindSync
from jobs.sync.rows import record_from_job
from jobs.sync.sql import chunks

# Jobs read by id are stored in groups of this many (one transaction each).
READ_GROUP = 50

T = TypeVar("T")
R = TypeVar("R")


def list_changed(ks: KindSync, budget: int, waiting: bool = False) -> None:
    """Steps 1–3 above for ``ks``'s account and kind (``waiting``: with the jobs waiting on a
    person); at most ``budget`` jobs read by id."""
    provider, kind = ks.provider, ks.kind
    states = moving_states(kind) + (waiting_states(kind) if waiting else [])
    ks.consume(provider.iter_pages(kind, states=states))

    known = ks.known or {}

    def nothing_new(page: Page) -> bool:
        return all(known.get(entry.remote_id) for entry in page.entries)

    ks.consume(provider.iter_pages(kind, newest_first=True, fetch_ahead=False), depth=0, stop=nothing_new)

    # Cached in a listed status (unknown states included), not listed as such now: read each once.
    unlisted = SETTLED_STATUSES if waiting else SETTLED_STATUSES + WAITING_STATUSES
    left = [
        remote_id
        for remote_id in Job.objects.filter(account_id=ks.account.pk, kind=kind, gone=False)
        .exclude(status__in=unlisted)
        .order_by("synced_at")
        .values_list("remote_id", flat=True)
        .iterator(chunk_size=2000)
        if remote_id not in ks.seen_ids
    ][:budget]
    if provider.show_is_detail(kind):
        _read_details(ks, left)
    else:
        _read_records(ks, left)
    ks.progress(force=True)


def _read_records(ks: KindSync, remote_ids: list[str]) -> None:
    """Read ``remote_ids`` by id (provider.ids_per_read per call, calls in flight at once) and
    store what the vendor still has, shaped like a listing's entry where it can be (so the next
    listing of an unchanged job finds it unchanged: KindSync.as_listed)."""
    provider, kind = ks.provider, ks.kind
    per_call = max(1, provider.ids_per_read(kind))
    pending: list[JobRecord] = []
    try:
        for found in concurrently(lambda ids: provider.get_jobs(kind, ids), chunks(remote_ids, per_call)):
            pending += [record for record in found.values() if record is not None]
            if len(pending) >= READ_GROUP:
                _store(ks, pending)
                pending = []
    except ProviderError:
        _store(ks, pending)  # what was read before the vendor refused is kept
        raise
    _store(ks, pending)


def _read_details(ks: KindSync, remote_ids: list[str]) -> None:
    """Where one call answers both (MetaStudio avatar jobs: Show is the detail, op-logs
    included), read each job's detail once and store it as the job and as its detail."""
    provider = ks.provider
    for group in chunks(remote_ids, READ_GROUP):
        jobs = list(Job.objects.filter(account_id=ks.account.pk, kind=ks.kind, remote_id__in=group))

        def read(job: Job) -> tuple[Job, Detail | None]:
            try:
                return job, provider.fetch_detail(record_from_job(job))
            except NotFoundError:  # gone: the next full listing flags it
                return job, None

        fetched: list[tuple[Job, Detail]] = []
        try:
            for job, detail in concurrently(read, jobs):
                if detail is not None:
                    fetched.append((job, detail))
        except ProviderError:
            _store_details(ks, fetched)  # what was read before the vendor refused is kept
            raise
        _store_details(ks, fetched)


def _store_details(ks: KindSync, fetched: list[tuple[Job, Detail]]) -> None:
    _store(ks, [detail.record for _, detail in fetched])
    store_details(ks, fetched)


def _store(ks: KindSync, records: list[JobRecord]) -> None:
    if records:
        ks.store_records(records, [ks.as_listed(record) for record in records])
        ks.progress()


def concurrently(read: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``read(item)`` for each item, in order, up to SYNC_DETAIL_CONCURRENCY at once (each call
    takes its token from the tenant's quota governor: at 100 ms vendor latency one read at a
    time reaches only 10 requests/s). After a ProviderError no new read starts (throttled, down
    or refused: the others would fail alike); the results before it are yielded, then it is
    raised."""
    stop = threading.Event()

    def guarded(item: T) -> R | None:
        if stop.is_set():
            return None
        try:
            return read(item)
        except ProviderError:
            stop.set()
            raise

    pool = ThreadPoolExecutor(max_workers=max(1, settings.SYNC_DETAIL_CONCURRENCY), thread_name_prefix="sync-by-id")
    try:
        yield from pool.map(guarded, items)
    finally:  # also when the caller stopped early (a database error): no further reads
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
