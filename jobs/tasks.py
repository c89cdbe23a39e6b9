"""Thin Celery tasks: load the arguments, call a service in jobs.sync, own the retries.

- ``dispatch_due_syncs()`` runs from Celery beat (django-celery-beat's database scheduler;
  the PeriodicTask row is created by migration jobs/0003 and editable in the admin).
- ``sync_account(account_id, kinds=None, trigger="schedule", run_ids=None)``.
- ``refresh_job(job_id, run_id=None)``.

Views and the admin enqueue through ``start_manual_sync`` / ``start_job_refresh``: they create
QUEUED SyncRuns (a page polls them for progress) and send the task after commit. Imports run
one way, views -> tasks -> sync: jobs.sync never imports this module.
"""

import logging
import math
from collections.abc import Iterable

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import alert_delivery, alerts, eta, sync
from jobs.models import CloudAccount, Heartbeat, Job, SyncRun

log = logging.getLogger(__name__)

TIME_LIMIT = settings.SYNC_TASK_TIME_LIMIT
# Transient vendor failures (throttling, 5xx, timeouts) are retried by the task, a few times,
# with growing delays; the service itself never loops. Permanent ones (bad credentials) are not.
MAX_RETRIES = 2
RETRY_DELAY = 30


@shared_task(name="jobs.dispatch_due_syncs", ignore_result=True)
def dispatch_due_syncs() -> int:
    """Enqueue a sync for each enabled account whose interval has passed."""
    Heartbeat.touch("dispatcher")  # /healthz: beat, the broker and a worker are doing their rounds
    sync.expire_abandoned_runs()
    enqueued = 0
    for account in sync.due_accounts():
        if not sync.mark_enqueued(account):
            continue
        interval = account.active_sync_interval if account.has_active_jobs else account.sync_interval
        transaction.on_commit(
            lambda pk=account.pk, ttl=max(interval, 60): sync_account.apply_async(
                args=[pk], kwargs={"trigger": "schedule"}, expires=ttl
            )
        )
        enqueued += 1
    return enqueued


@shared_task(
    bind=True,
    name="jobs.sync_account",
    ignore_result=True,
    soft_time_limit=TIME_LIMIT - 60,
    time_limit=TIME_LIMIT,
    max_retries=MAX_RETRIES,
    # After its pool process died (task_retry_on_worker_lost): once that sync's lease has lapsed.
    default_retry_delay=settings.SYNC_LEASE_SECONDS + 5,
)
def sync_account(
    self,
    account_id: int,
    kinds: list[str] | None = None,
    trigger: str = "schedule",
    run_ids: list[int] | None = None,
    full: bool = False,
) -> list[int]:
    account = CloudAccount.objects.filter(pk=account_id).first()
    runs = list(SyncRun.objects.filter(pk__in=run_ids or [])) if run_ids else None
    if account is None:
        SyncRun.objects.filter(pk__in=run_ids or []).delete()
        return []
    wait = _lease_wait(self, account)
    if wait:
        log.info("sync of %s was redelivered while its account is leased: again in %d s", account.name, wait)
        raise self.retry(countdown=wait)
    try:
        done = sync.sync_account(account, kinds=kinds, trigger=trigger, runs=runs, full=full)
    except SoftTimeLimitExceeded:
        log.warning("sync of %s hit its time limit", account.name)
        return []
    if alert_delivery.anything_due():
        send_alerts.delay()  # the alerts this sync opened or resolved, now (beat's pass is the net)
    transient = [r for r in done if getattr(r, "retryable", False) and r.outcome == SyncRun.Outcome.FAILED]
    if transient and self.request.retries < self.max_retries:
        kinds_left = [r.kind for r in transient]
        raise self.retry(
            kwargs={"kinds": kinds_left, "trigger": trigger, "run_ids": None, "full": full},
            countdown=RETRY_DELAY * (2**self.request.retries),
        )
    return [r.pk for r in done]


def _lease_wait(task, account: CloudAccount) -> int:
    """Seconds a redelivered sync should wait for its account's lease (0: run now).

    The broker redelivers a sync whose worker died before acknowledging it (acks_late), often
    while that worker's lease still holds the account: nobody renews it any more, so it lapses
    within SYNC_LEASE_SECONDS. Run at once, the sync would only be recorded as skipped; retried
    just after the lapse, it does the work. (A lease some live sync renews makes the retry skip.)
    """
    redelivered = (task.request.delivery_info or {}).get("redelivered")
    if not redelivered or task.request.retries >= task.max_retries or account.lease_until is None:
        return 0
    left = (account.lease_until - timezone.now()).total_seconds()
    return math.ceil(left) + 1 if left > 0 else 0


@shared_task(name="jobs.refresh_job", ignore_result=True, soft_time_limit=120, time_limit=180)
def refresh_job(job_id: int, run_id: int | None = None) -> int | None:
    job = Job.objects.select_related("account").filter(pk=job_id).first()
    run = SyncRun.objects.filter(pk=run_id).first() if run_id else None
    if job is None:
        if run is not None:
            run.delete()
        return None
    return sync.refresh_job(job, run=run).pk


@shared_task(name="jobs.send_alerts", ignore_result=True, soft_time_limit=120, time_limit=180)
def send_alerts() -> int:
    """Send the alert outbox's due messages (one per channel); beat runs it every 30 s and each
    sync that left some due asks for it at once (sync_account). Beat's pass also checks for
    accounts whose sync went stale (no success for a while: a dead worker alerts someone)."""
    alerts.evaluate_stale()
    sent, _failed = alert_delivery.send_due()
    return sent


@shared_task(name="jobs.rebuild_eta_model", ignore_result=True, soft_time_limit=600, time_limit=660)
def rebuild_eta_model() -> int:
    """Rebuild the ETA model from the settled jobs (beat: hourly); returns the stretches kept."""
    model = eta.rebuild_model()
    return sum(model.stretches(kind) for kind in model.samples)


# ---------------------------------------------------------------- enqueueing (for views, admin)


def start_manual_sync(
    account: CloudAccount, kinds: Iterable[str] | None = None, trigger: str = "manual"
) -> list[SyncRun]:
    """Create QUEUED SyncRuns and enqueue the sync after commit; poll the runs for progress."""
    kinds = account.sync_kinds(kinds or None)
    runs = [
        SyncRun.objects.create(account=account, kind=k, trigger=trigger, outcome=SyncRun.Outcome.QUEUED) for k in kinds
    ]
    if runs:
        run_ids = [r.pk for r in runs]
        transaction.on_commit(
            lambda: sync_account.apply_async(
                args=[account.pk], kwargs={"kinds": kinds, "trigger": trigger, "run_ids": run_ids}
            )
        )
    return runs


def start_job_refresh(job: Job) -> SyncRun:
    """Create a QUEUED refresh run for one job and enqueue it after commit."""
    run = SyncRun.objects.create(account=job.account, kind=job.kind, trigger="refresh", outcome=SyncRun.Outcome.QUEUED)
    transaction.on_commit(lambda: refresh_job.apply_async(args=[job.pk], kwargs={"run_id": run.pk}))
    return run
