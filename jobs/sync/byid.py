"""Reading jobs by id: the jobs an incremental refresh no longer lists, and the short jobs the
vendor cannot list at all (tracked by id)."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from jobs.models import SETTLED_STATUSES, Job
from jobs.providers.base import JobRecord
from jobs.sync.details import fetch_details
from jobs.sync.kind import KindSync
from jobs.sync.pool import read_concurrently, stops_reads
from jobs.sync.sql import chunks

# Jobs read by id are stored in groups of this many (one transaction each).
READ_GROUP = 50
# Settled short jobs are re-read this rarely (they never change once settled, but may vanish).
SETTLED_SHORT_JOB_REFRESH = timedelta(hours=6)


def read_by_id(ks: KindSync, remote_ids: list[str], missing_gone: bool = False) -> None:
    """Read ``remote_ids`` (provider.ids_per_read per call, several calls in flight) and store
    what the vendor has, shaped like a listing's entry where it can be (KindSync.as_listed, so
    the next listing of an unchanged job writes nothing). Where one detail read also holds the
    state (Provider.show_is_detail: MetaStudio avatar jobs), that read is made instead: one call
    for both. A job the vendor no longer has is marked gone with ``missing_gone`` (a job only
    read by id), else only moved to the back of the queue (a full listing will tell).

    Raises, after storing what was read, the error that stopped the reads, else the first error
    about one call."""
    provider, kind = ks.provider, ks.kind
    if provider.show_is_detail(kind):
        for group in chunks(remote_ids, READ_GROUP):
            jobs = Job.objects.filter(account_id=ks.account.pk, kind=kind, remote_id__in=group)
            fetch_details(ks, 0, jobs=list(jobs), with_state=True)
        return
    per_call = max(1, provider.ids_per_read(kind))
    first_error = stopped = None
    found: list[JobRecord] = []
    missing: list[str] = []

    def store() -> None:
        if found:
            ks.store_records(found, [ks.as_listed(record) for record in found])
            ks.counters.pages += 1
        if missing and missing_gone:
            with ks.guarded():  # an id tracked by hand that the vendor never knew (a typo, another
                # project's job) is dropped, not kept as a job that went "gone"; the track page says so
                Job.objects.filter(account_id=ks.account.pk, kind=kind, remote_id__in=missing, state="").delete()
            ks.counters.marked_gone += ks.mark_gone_by_remote_id(missing)
        elif missing:
            with ks.guarded():
                Job.objects.filter(account_id=ks.account.pk, kind=kind, remote_id__in=missing).update(
                    synced_at=timezone.now()
                )
        found.clear()
        missing.clear()
        ks.progress()

    def read(ids: list[str]) -> dict:
        if ks.lease is not None:
            ks.lease.check()  # no more calls once the heartbeat saw the lease go
        return provider.get_jobs(kind, ids)

    with closing(read_concurrently(read, chunks(remote_ids, per_call))) as reads:
        for _ids, answers, exc in reads:
            if exc is not None:
                first_error = first_error or exc
                if stops_reads(exc):
                    stopped = stopped or exc
                continue
            for remote_id, record in (answers or {}).items():
                (found if record is not None else missing).append(record if record is not None else remote_id)
            if len(found) + len(missing) >= READ_GROUP:
                store()
    store()
    if stopped or first_error:
        raise stopped or first_error


def list_tracked(ks: KindSync, budget: int) -> None:
    """Short jobs have no list API: re-read each tracked job that may still change (unsettled,
    waiting for a detail, or not read for SETTLED_SHORT_JOB_REFRESH)."""
    stale = timezone.now() - SETTLED_SHORT_JOB_REFRESH
    due = (
        Job.objects.filter(account=ks.account, kind=ks.kind, gone=False)
        .filter(~Q(status__in=SETTLED_STATUSES) | Q(synced_at__lt=stale) | Q(needs_detail=True))
        .order_by("synced_at")
        .values_list("remote_id", flat=True)[:budget]
    )
    read_by_id(ks, list(due), missing_gone=True)
    ks.progress(force=True)
