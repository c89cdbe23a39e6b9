"""Sync runs: one account under its lease, kind by kind, each recorded in a SyncRun; the
refresh of one job; registering short jobs the vendor cannot list."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, PROVIDER_KINDS, CloudAccount, Job, Kind, SyncRun
from jobs.providers import get_provider
from jobs.providers.base import AuthError, Provider, ProviderError
from jobs.sync.after import after_run
from jobs.sync.byid import list_tracked
from jobs.sync.details import fetch_details
from jobs.sync.errors import error_fields, redact, run_reason
from jobs.sync.incremental import list_changed
from jobs.sync.kind import DETAIL_KINDS, KindSync
from jobs.sync.lease import Lease, LeaseKeeper, LeaseLost, claim_lease, close_abandoned_runs, release_lease

log = logging.getLogger(__name__)


def _log_crash(account: CloudAccount, exc: BaseException, message: str, *args) -> None:
    """log.exception with the traceback redacted: an exception's text may quote a secret."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    log.error(message + "\n%s", *args, redact(trace, account))


def _finish_run(
    run: SyncRun, ks: KindSync | None, outcome: str, exc: BaseException | None, account: CloudAccount
) -> SyncRun:
    if ks is not None:
        ks.counters.apply(run)
        run.listed_keys = ks.listed_keys
        ks.apply_calls(run)
    run.outcome = outcome
    run.finished_at = timezone.now()
    if exc is not None:
        for name, value in error_fields(exc, account).items():
            setattr(run, name, value)
        run.retryable = isinstance(exc, ProviderError) and not exc.permanent
        run.auth_failed = isinstance(exc, AuthError)
    else:
        run.retryable = False
        run.auth_failed = False
    run.save()
    after_run(run)
    return run


def refresh_mode(account: CloudAccount, kind: str, full: bool = False) -> str:
    """How this kind of this account is refreshed now: ``tracked`` (short jobs, no list API),
    ``full`` (asked for, or no complete full listing within full_sync_interval: one whose detail
    phase was cut short counts), ``waiting`` (incremental, and the jobs waiting on a person
    too: none listed within SYNC_WAITING_INTERVAL)
    or ``incremental`` (jobs.sync.incremental)."""
    if kind == Kind.VOICE_ASSESSMENT:
        return SyncRun.Mode.TRACKED
    if full:
        return SyncRun.Mode.FULL
    now = timezone.now()
    done = SyncRun.objects.filter(account=account, kind=kind, listing_complete=True)
    since = now - timedelta(seconds=account.full_sync_interval)
    if not done.filter(mode=SyncRun.Mode.FULL, started_at__gte=since).exists():
        return SyncRun.Mode.FULL
    since = now - timedelta(seconds=settings.SYNC_WAITING_INTERVAL)
    if not done.filter(mode__in=(SyncRun.Mode.FULL, SyncRun.Mode.WAITING), started_at__gte=since).exists():
        return SyncRun.Mode.WAITING
    return SyncRun.Mode.INCREMENTAL


def _run_kind(
    account: CloudAccount,
    kind: str,
    provider: Provider,
    run: SyncRun,
    lease: Lease,
    budget: int,
    full: bool = False,
    mode: str | None = None,
) -> SyncRun:
    """Both phases for one kind; records the outcome on `run`. Never raises a ProviderError."""
    run.outcome = SyncRun.Outcome.RUNNING
    run.started_at = timezone.now()
    run.mode = mode or refresh_mode(account, kind, full)
    run.save(update_fields=["outcome", "started_at", "mode"])
    ks = KindSync(account, kind, provider, run, lease=lease)
    one_job_error = None  # a read by id that failed for that job alone: the run ends partial
    try:
        lease.check()
        if run.mode == SyncRun.Mode.TRACKED:
            list_tracked(ks, budget)
        elif run.mode in (SyncRun.Mode.INCREMENTAL, SyncRun.Mode.WAITING):
            one_job_error = list_changed(ks, budget, waiting=run.mode == SyncRun.Mode.WAITING)
        else:
            ks.list_all()
            ks.mark_gone()
        run.listing_complete = True  # what refresh_mode counts, whatever the detail phase does
    except LeaseLost as exc:
        return _lost(run, ks, exc, account)
    except ProviderError as exc:
        # Pages stored so far stay; nothing is marked gone from an incomplete listing.
        outcome = SyncRun.Outcome.PARTIAL if ks.counters.pages else SyncRun.Outcome.FAILED
        log.warning("sync %s/%s stopped: %s", account.name, kind, redact(str(exc), account))
        return _finish_run(run, ks, outcome, exc, account)
    except Exception as exc:
        _log_crash(account, exc, "sync %s/%s crashed", account.name, kind)
        _finish_run(run, ks, SyncRun.Outcome.FAILED, exc, account)
        if _is_time_limit(exc):
            raise
        return run
    try:
        fetch_details(ks, budget - ks.counters.details_fetched)  # less what reads by id took
    except LeaseLost as exc:
        return _lost(run, ks, exc, account)
    except ProviderError as exc:
        log.warning("detail fetch %s/%s stopped: %s", account.name, kind, redact(str(exc), account))
        return _finish_run(run, ks, SyncRun.Outcome.PARTIAL, exc, account)
    except Exception as exc:
        _log_crash(account, exc, "detail fetch %s/%s crashed", account.name, kind)
        _finish_run(run, ks, SyncRun.Outcome.PARTIAL, exc, account)
        if _is_time_limit(exc):
            raise
        return run
    if one_job_error is not None:
        log.warning("sync %s/%s: %s", account.name, kind, redact(str(one_job_error), account))
        return _finish_run(run, ks, SyncRun.Outcome.PARTIAL, one_job_error, account)
    return _finish_run(run, ks, SyncRun.Outcome.SUCCEEDED, None, account)


def _lost(run: SyncRun, ks: KindSync, exc: LeaseLost, account: CloudAccount) -> SyncRun:
    """The lease went (lapsed, or released by an operator): what was written before stays; this
    run stops and says so. The caller stops the account's other kinds too."""
    log.warning("sync %s/%s stopped: it lost the account's lease (%s)", account.name, run.kind, exc)
    exc = LeaseLost(f"stopped: this sync lost the account's lease ({exc}); nothing more was written")
    outcome = SyncRun.Outcome.PARTIAL if ks.counters.pages else SyncRun.Outcome.FAILED
    return _finish_run(run, ks, outcome, exc, account)


def _is_time_limit(exc: BaseException) -> bool:
    return type(exc).__name__ in ("SoftTimeLimitExceeded", "TimeLimitExceeded")


def _prepare_runs(account: CloudAccount, kinds: list[str], trigger: str, runs: list[SyncRun] | None) -> list[SyncRun]:
    by_kind = {run.kind: run for run in (runs or [])}
    now = timezone.now()
    for kind, run in by_kind.items():
        if kind not in kinds and run.outcome == SyncRun.Outcome.QUEUED:
            # Queued for a kind the account no longer syncs: close it rather than leave it waiting.
            run.outcome = SyncRun.Outcome.SKIPPED
            run.finished_at = now
            run.error_message = "this account no longer syncs this kind"
            run.save()
    return [by_kind.get(kind) or SyncRun(account=account, kind=kind, trigger=trigger) for kind in kinds]


def sync_account(
    account: CloudAccount,
    kinds: list[str] | None = None,
    trigger: str = "schedule",
    runs: list[SyncRun] | None = None,
    provider: Provider | None = None,
    full: bool = False,
    mode: str | None = None,
) -> list[SyncRun]:
    """Sync the given kinds (default: all the account syncs) under the account lease.

    `runs` are SyncRun rows created earlier (QUEUED, e.g. by start_manual_sync) to fill in.
    `full` forces a full listing (the only refresh that marks jobs gone); otherwise each kind
    is refreshed incrementally while a recent full listing allows (refresh_mode). `mode`
    (a SyncRun.Mode) overrides that choice for every listable kind (tests, benchmarks).
    Returns one finished SyncRun per kind; SKIPPED ones when another sync holds the lease.
    """
    kinds = account.sync_kinds(kinds or None)
    runs = _prepare_runs(account, kinds, trigger, runs)
    if not runs:
        return []
    owner = uuid.uuid4().hex
    lease = claim_lease(account.pk, owner)
    if lease is None:
        now = timezone.now()
        for run in runs:
            run.outcome = SyncRun.Outcome.SKIPPED
            run.finished_at = now
            run.error_message = "another sync of this account was running"
            run.retryable = False
            run.save()
        return runs
    try:
        with LeaseKeeper(lease):
            return _sync_under_lease(account, runs, lease, provider, full, mode)
    finally:
        release_lease(account.pk, owner)


def _sync_under_lease(
    account: CloudAccount,
    runs: list[SyncRun],
    lease: Lease,
    provider: Provider | None,
    full: bool,
    mode: str | None,
) -> list[SyncRun]:
    # Holding the lease, no other sync of this account runs: a run still RUNNING was abandoned
    # by a process that died (kill -9, OOM, a lost host). Close it now rather than wait for beat.
    close_abandoned_runs(account.pk, keep=[run.pk for run in runs if run.pk])
    for run in runs:  # visible at once as running/queued on the sync page
        if run.pk is None:
            run.outcome = SyncRun.Outcome.QUEUED
            run.save()
    try:
        provider = provider or get_provider(account)
    except Exception as exc:  # bad stored credential, unknown provider
        log.warning("cannot build a provider for %s: %s", account.name, type(exc).__name__)
        for run in runs:
            _finish_run(run, None, SyncRun.Outcome.FAILED, exc, account)
        _update_account(account, runs)
        return runs
    budget = settings.SYNC_DETAIL_BUDGET
    stop_error = None  # refused credentials or a lost lease: the other kinds are not tried
    for run in runs:
        if stop_error is not None:
            # The same credentials would be refused again: no call, same reason.
            _finish_run(run, None, SyncRun.Outcome.FAILED, stop_error, account)
            continue
        kind_mode = mode if mode and run.kind != Kind.VOICE_ASSESSMENT else None
        _run_kind(account, run.kind, provider, run, lease, budget, full, kind_mode)
        if getattr(run, "auth_failed", False):
            stop_error = AuthError(run.error_message, code=run.error_code, request_id=run.request_id)
        elif lease.lost.is_set():
            stop_error = LeaseLost(f"not started: this sync lost the account's lease ({lease.reason})")
    provider.save_state()
    if not lease.lost.is_set():  # else the account's status is the new owner's to write
        _update_account(account, runs)
    return runs


def sync_account_kind(
    account: CloudAccount,
    kind: str,
    trigger: str = "schedule",
    provider: Provider | None = None,
    full: bool = False,
    mode: str | None = None,
) -> SyncRun:
    """Sync one kind of one account (see sync_account)."""
    runs = sync_account(account, [kind], trigger=trigger, provider=provider, full=full, mode=mode)
    if not runs:
        raise ValueError(f"account {account.name} does not sync {kind}")
    return runs[0]


def _update_account(account: CloudAccount, runs: list[SyncRun]) -> None:
    now = timezone.now()
    failed = [r for r in runs if r.outcome in (SyncRun.Outcome.FAILED, SyncRun.Outcome.PARTIAL)]
    fields = {
        "last_sync_at": now,
        "has_active_jobs": Job.objects.filter(account=account, status__in=ACTIVE_STATUSES, gone=False).exists(),
    }
    if failed:
        fields["last_error"] = "; ".join(run_reason(r) for r in failed)
        fields["last_error_at"] = now
    else:
        fields["last_success_at"] = now
        fields["last_error"] = ""
    CloudAccount.objects.filter(pk=account.pk).update(**fields)
    for name, value in fields.items():
        setattr(account, name, value)


def track_jobs(account: CloudAccount, kind: str, remote_ids: Iterable[str]) -> int:
    """Register job ids the vendor cannot list (short jobs); the next sync fetches them.

    Returns how many were new. Ids already tracked are left as they are."""
    if kind not in [k.value for k in PROVIDER_KINDS.get(account.provider, [])]:
        raise ValueError(f"{account.name} ({account.provider}) has no {kind!r} jobs")
    ids = []
    for raw in remote_ids:
        rid = (raw or "").strip()
        if rid and len(rid) <= 128 and rid not in ids:
            ids.append(rid)
    if not ids:
        return 0
    now = timezone.now()
    known = dict(Job.objects.filter(account=account, kind=kind, remote_id__in=ids).values_list("remote_id", "gone"))
    rows = [
        Job(
            account=account,
            kind=kind,
            remote_id=rid,
            created_at=now,
            updated_at=now,
            first_seen_at=now,
            synced_at=now,
            state_changed_at=now,
            needs_detail=True,
        )
        for rid in ids
        if rid not in known
    ]
    Job.objects.bulk_create(rows, ignore_conflicts=True)
    gone = [rid for rid, is_gone in known.items() if is_gone]
    if gone:  # tracking a gone job again brings it back
        Job.objects.filter(account=account, kind=kind, remote_id__in=gone).update(
            gone=False, gone_at=None, needs_detail=True
        )
    return len(rows)


def refresh_job(job: Job, run: SyncRun | None = None, provider: Provider | None = None) -> SyncRun:
    """Re-fetch one job (and its detail) now, under the account lease."""
    account = job.account
    run = run or SyncRun(account=account, kind=job.kind, trigger="refresh")
    run.mode = SyncRun.Mode.REFRESH
    owner = uuid.uuid4().hex
    lease = claim_lease(account.pk, owner)
    if lease is None:
        run.outcome = SyncRun.Outcome.SKIPPED
        run.finished_at = timezone.now()
        run.error_message = "another sync of this account was running"
        run.save()
        return run
    try:
        with LeaseKeeper(lease):
            return _refresh_under_lease(job, run, lease, provider)
    finally:
        release_lease(account.pk, owner)


def _refresh_under_lease(job: Job, run: SyncRun, lease: Lease, provider: Provider | None) -> SyncRun:
    account = job.account
    close_abandoned_runs(account.pk, keep=[run.pk] if run.pk else None)
    run.outcome = SyncRun.Outcome.RUNNING
    run.started_at = timezone.now()
    run.save()
    ks = None
    try:
        provider = provider or get_provider(account)
        ks = KindSync(account, job.kind, provider, run, lease=lease)
        rec = provider.get_job(job.kind, job.remote_id)
        if rec is None:
            ks.counters.marked_gone += ks.mark_gone_by_remote_id([job.remote_id])
        else:
            ks.store_records([rec], [ks.as_listed(rec)])
            ks.counters.pages = 1
            if job.kind in DETAIL_KINDS:  # this job's detail, whatever else waits for one
                fetch_details(ks, 1, jobs=[Job.objects.get(pk=job.pk)])
            else:
                with ks.guarded():
                    Job.objects.filter(pk=job.pk).update(needs_detail=False)
        provider.save_state()
    except Exception as exc:
        _finish_run(run, ks, SyncRun.Outcome.FAILED, exc, account)
        if not isinstance(exc, (ProviderError, LeaseLost)):
            _log_crash(account, exc, "refresh of job %s crashed", job.pk)
        return run
    return _finish_run(run, ks, SyncRun.Outcome.SUCCEEDED, None, account)
