"""The detail phase of one account and kind: detail / op-log reads of new or changed jobs."""

from __future__ import annotations

from contextlib import closing

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, Job
from jobs.providers.base import Detail, NotFoundError
from jobs.status import unified_status
from jobs.sync.kind import KindSync
from jobs.sync.pool import read_concurrently, stops_reads
from jobs.sync.reasons import fill_from_events
from jobs.sync.rows import detail_updates, record_from_job
from jobs.sync.sql import chunks
from jobs.sync.store import store_assessments, store_events
from jobs.triage import group_of

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


def fetch_details(ks: KindSync, budget: int, jobs: list[Job] | None = None, with_state: bool = False) -> None:
    """Detail / op-logs for new or changed jobs (detail_queue, within the budget), or for
    ``jobs``. ``with_state``: the detail read also holds the job's current state (Provider.
    show_is_detail), so the record it brings is stored as the job first.

    Up to SYNC_DETAIL_CONCURRENCY reads in flight (jobs.sync.pool); results are stored here, on
    the sync's own thread and database connection. A job the vendor no longer has stops needing
    a detail (the next full listing flags it gone). Raises, after storing what was read, the
    error that stopped the reads (throttled, down, refused) or else the first error about one
    job (the others were read)."""
    if jobs is None:
        if not ks.has_detail or budget <= 0:
            return
        jobs = detail_queue(ks, budget)

    def read(job: Job) -> Detail:
        if ks.lease is not None:
            ks.lease.check()  # no more calls once the heartbeat saw the lease go
        return ks.provider.fetch_detail(record_from_job(job))

    first_error = stopped = None
    for group in chunks(jobs, DETAIL_CHUNK):
        fetched, missing = [], []
        with closing(read_concurrently(read, group)) as results:
            for job, detail, exc in results:
                if detail is not None:
                    fetched.append((job, detail))
                elif isinstance(exc, NotFoundError):
                    missing.append(job.pk)
                elif exc is not None:
                    first_error = first_error or exc
                    if stops_reads(exc):
                        stopped = stopped or exc
        if with_state:
            ks.store_records([d.record for _, d in fetched], [ks.as_listed(d.record) for _, d in fetched])
        store_details(ks, fetched)
        if missing:  # looked at now: to the back of every queue
            with ks.guarded():
                Job.objects.filter(pk__in=missing).update(needs_detail=False, synced_at=timezone.now())
        ks.progress()
        if stopped:
            break
    if stopped or first_error:
        raise stopped or first_error


def store_details(ks: KindSync, fetched: list[tuple[Job, Detail]]) -> None:
    """Store fetched details (columns, payload, events, assessment) of cached jobs; each stops
    needing one."""
    if not fetched:
        return
    now = timezone.now()
    with ks.guarded():
        assessments = []
        for job, detail in fetched:
            rec = detail.record
            updates = detail_updates(job, rec)
            status = unified_status(rec.kind, rec.state)
            # What the vendor left empty and the events tell: a failure reason, start and finish.
            updates.update(fill_from_events(job, rec, rec.kind, status, rec.state, detail.events))
            code, message = (updates.get(n, getattr(job, n)) for n in ("error_code", "error_message"))
            updates["failure_group"] = group_of(rec.kind, status, code, message)
            updates.update(needs_detail=False, detail_synced_at=now, synced_at=now)
            Job.objects.filter(pk=job.pk).update(**updates)
            ks.counters.events_created += store_events(job.pk, detail.events)
            if rec.assessment is not None:
                assessments.append((job.pk, rec.assessment))
            ks.counters.details_fetched += 1
        store_assessments(assessments)
