"""Scheduling: which accounts are due a sync, enqueue bookkeeping, runs nobody finished."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs.models import CloudAccount, SyncRun


def due_accounts(now: datetime | None = None) -> list[CloudAccount]:
    """Enabled accounts whose interval has passed (the active interval while jobs move), the
    longest unsynced first: when the workers cannot keep up, the broker's queue (first in,
    first out) serves the most overdue accounts first, and an account whose task expired
    unserved keeps its place instead of queueing behind the ones just synced."""
    now = now or timezone.now()
    out = []
    for account in CloudAccount.objects.filter(enabled=True):
        interval = account.active_sync_interval if account.has_active_jobs else account.sync_interval
        last = max([t for t in (account.last_sync_at, account.sync_enqueued_at) if t], default=None)
        if last is None or last <= now - timedelta(seconds=interval):
            out.append(account)
    never = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(out, key=lambda account: (account.last_sync_at or never, account.pk))


def mark_enqueued(account: CloudAccount, now: datetime | None = None) -> bool:
    """Record that a sync was enqueued, unless another dispatcher just did (conditional UPDATE)."""
    now = now or timezone.now()
    prev = account.sync_enqueued_at
    qs = CloudAccount.objects.filter(pk=account.pk)
    qs = qs.filter(sync_enqueued_at__isnull=True) if prev is None else qs.filter(sync_enqueued_at=prev)
    return qs.update(sync_enqueued_at=now) == 1


def expire_abandoned_runs(now: datetime | None = None) -> int:
    """Runs nobody will finish, marked failed: RUNNING while their account's lease is free or
    lapsed (a running sync keeps it renewed: its process died), and runs left QUEUED or RUNNING
    long ago (a task that expired or was lost with its broker message)."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=max(settings.SYNC_LEASE_SECONDS, 300) * 2)
    # Runs younger than a lease are left alone: their sync may be claiming the lease right now.
    young = now - timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    unleased = CloudAccount.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).values("pk")
    dead = Q(outcome=SyncRun.Outcome.RUNNING, account__in=unleased, started_at__lt=young)
    old = Q(outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING], started_at__lt=limit)
    return SyncRun.objects.filter(dead | old).update(
        outcome=SyncRun.Outcome.FAILED,
        finished_at=now,
        error_code="abandoned",
        error_message="the sync never finished (worker stopped or task expired)",
    )
