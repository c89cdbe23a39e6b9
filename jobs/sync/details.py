"""The detail phase of one account and kind: detail / op-log reads of new or changed jobs."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, Job
from jobs.providers.base import AuthError, NotFoundError, ProviderError
from jobs.sync.kind import KindSync
from jobs.sync.rows import detail_updates, record_from_job
from jobs.sync.sql import chunks
from jobs.sync.store import store_assessments, store_events

# Detail fetches are stored in groups of this many jobs per transaction.
DETAIL_CHUNK = 25


def fetch_details(ks: KindSync, budget: int) -> None:
    """Detail / op-logs for new or changed jobs, in-progress first, within the budget.

    Raises the ProviderError that stopped the phase (the listing is already stored)."""
    if not ks.has_detail or budget <= 0:
        return
    queue = list(
        Job.objects.filter(account_id=ks.account.pk, kind=ks.kind, needs_detail=True, gone=False)
        .annotate(
            active=Case(When(status__in=ACTIVE_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("active", "-updated_at", "-id")[:budget]
    )
    first_error = None
    for group in chunks(queue, DETAIL_CHUNK):
        fetched = []
        for job in group:
            try:
                fetched.append((job, ks.provider.fetch_detail(record_from_job(job))))
            except ProviderError as exc:
                if isinstance(exc, NotFoundError):
                    # Gone from the vendor; the next complete listing flags it.
                    Job.objects.filter(pk=job.pk).update(needs_detail=False)
                    continue
                first_error = first_error or exc
                if _stops_details(exc):
                    break  # throttled, down or unauthorised: later jobs would fail the same way
                # One job's unusable detail must not starve the others: keep going.
        _store_details(ks, fetched)
        ks.progress()
        if first_error is not None and _stops_details(first_error):
            break
    if first_error is not None:
        raise first_error


def _store_details(ks: KindSync, fetched) -> None:
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
