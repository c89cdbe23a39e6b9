"""The detail phase of one account and kind: detail / op-log reads of new or changed jobs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, Job
from jobs.providers.base import AuthError, Detail, NotFoundError, ProviderError
from jobs.sync.kind import KindSync
from jobs.sync.rows import detail_updates, record_from_job
from jobs.sync.sql import chunks
from jobs.sync.store import store_assessments, store_events

# Detail fetches are stored in groups of this many jobs per transaction.
DETAIL_CHUNK = 25


def detail_queue(ks: KindSync, budget: int) -> list[Job]:
    """The jobs whose detail is read this run, by need: in-progress jobs first, then the rest,
    each oldest wait first (``synced_at``: when the listing last flagged it). A quarter of the
    budget goes to the longest waiting whatever their status, so a standing backlog of
    in-progress jobs never starves a settled job's timeline."""
    waiting = Job.objects.filter(account_id=ks.account.pk, kind=ks.kind, needs_detail=True, gone=False)
    reserve = budget // 4
    oldest = list(waiting.order_by("synced_at", "id")[:reserve]) if reserve else []
    taken = {job.pk for job in oldest}
    by_need = waiting.annotate(
        active=Case(When(status__in=ACTIVE_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("active", "synced_at", "id")[:budget]
    return [job for job in by_need if job.pk not in taken][: budget - len(oldest)] + oldest


def fetch_details(ks: KindSync, budget: int) -> None:
    """Detail / op-logs for new or changed jobs (detail_queue), within the budget.

    Up to SYNC_DETAIL_CONCURRENCY reads are in flight at once, each taking a token from the
    tenant's quota governor like every call: at 100 ms vendor latency one read at a time
    reaches only 10 requests/s, below a 20/s budget. Results are stored here, on the sync's
    own thread and database connection. Raises the ProviderError that stopped the phase (the
    listing is already stored)."""
    if not ks.has_detail or budget <= 0:
        return
    queue = detail_queue(ks, budget)
    stop = threading.Event()

    def read(job: Job) -> tuple[Job, Detail | None, ProviderError | None]:
        if stop.is_set():  # throttled, down or unauthorised: later reads would fail the same way
            return job, None, None
        try:
            return job, ks.provider.fetch_detail(record_from_job(job)), None
        except ProviderError as exc:
            if _stops_details(exc):
                stop.set()
            return job, None, exc

    first_error = None
    workers = max(1, settings.SYNC_DETAIL_CONCURRENCY)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-detail") as pool:
        for group in chunks(queue, DETAIL_CHUNK):
            fetched = []
            for job, detail, exc in pool.map(read, group):
                if detail is not None:
                    fetched.append((job, detail))
                elif isinstance(exc, NotFoundError):
                    # Gone from the vendor; the next complete listing flags it.
                    Job.objects.filter(pk=job.pk).update(needs_detail=False)
                elif exc is not None:
                    # One job's unusable detail must not starve the others: keep going.
                    first_error = first_error or exc
            store_details(ks, fetched)
            ks.progress()
            if stop.is_set():
                break
    if first_error is not None:
        raise first_error


def store_details(ks: KindSync, fetched: list[tuple[Job, Detail]]) -> None:
    """Store fetched details (columns, payload, events, assessment) of cached jobs; each stops
    needing one."""
    if not fetched:
        return
    now = timezone.now()
    with transaction.atomic():
        assessments = []
        for job, detail in fetched:
            rec = detail.record
            updates = {**detail_updates(job, rec), "needs_detail": False, "detail_synced_at": now, "synced_at": now}
            Job.objects.filter(pk=job.pk).update(**updates)
            ks.counters.events_created += store_events(job.pk, detail.events)
            if rec.assessment is not None:
                assessments.append((job.pk, rec.assessment))
            ks.counters.details_fetched += 1
        store_assessments(assessments)


def _stops_details(exc: ProviderError) -> bool:
    """Throttled, down or unauthorised: the remaining detail fetches would fail the same way."""
    return not exc.permanent or isinstance(exc, AuthError)
