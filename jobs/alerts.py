"""Alert evaluation (issue #14): after each sync run, from what the run changed.

What a run changed is the jobs it wrote (``synced_at`` at or after the run's start: the listing
and the detail phase stamp every row they write; an unchanged job is not written), read through
the ``job_synced`` index, never a scan of the cache. The window starts at the PREVIOUS run's
start of the same account and kind, so each run looks again at what the one before wrote: an
evaluation that a crash cut short (after the sync committed, before its alerts did) is made up
by the next run, and looking twice opens nothing twice (below). Per rule:

- ``failed``: a written job that is failed, and failed after the rule was made (a first sync of
  an account's history alerts no one), opens an alert on that job; a written job that is no
  longer failed resolves it.
- ``stuck``: the account's and kind's jobs past their state's limit (selectors.stuck_q, a range
  of the moving jobs' index, at most STUCK_SCAN of them) open alerts; a job with an open alert
  that is no longer stuck resolves it.
- ``spike``: ``limit`` or more failures of the run's account and kind within ``minutes`` (a
  range of the failed jobs' index) open one alert for the account and kind; fewer resolve it.
- ``stale``: a run that failed opens an alert on its account; a run that succeeded resolves it.
- ``assessment``: a written voice assessment with ``limit`` or more of its six metrics out of
  range opens an alert on it.

An alert is opened at most once per rule and subject until it resolves (a partial unique
constraint); opening or resolving writes one AlertDelivery per channel of the rule in the same
transaction (the outbox), and jobs.alert_delivery sends them. A muted rule still opens and
resolves alerts (the log shows them) but its deliveries are written as skipped."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone, translation

from jobs.alert_models import Alert, AlertDelivery, AlertRule
from jobs.assessments import AssessmentMetric
from jobs.models import CloudAccount, Job, Kind, Status, SyncRun
from jobs.selectors import stuck_q

log = logging.getLogger(__name__)

# The stuck jobs one evaluation opens alerts for, at most (the oldest first).
STUCK_SCAN = 500


def rules_for(account_id: int, kind: str) -> list[AlertRule]:
    """The enabled rules whose scope takes this account and kind."""
    out = []
    for rule in AlertRule.objects.filter(enabled=True).prefetch_related("accounts", "channels"):
        accounts = {a.pk for a in rule.accounts.all()}
        if accounts and account_id not in accounts:
            continue
        if rule.kinds and kind not in rule.kinds:
            continue
        out.append(rule)
    return out


def _scoped(rule: AlertRule, jobs):
    if rule.batch:
        jobs = jobs.filter(batch=rule.batch)
    if rule.tag:
        jobs = jobs.filter(tags_text__contains=f"|{rule.tag}|")
    return jobs


def evaluate_run(run: SyncRun, now: datetime | None = None) -> tuple[int, int]:
    """Open and resolve the alerts a finished sync run calls for; returns (opened, resolved).
    An alert's text is written once, in the site's language (LANGUAGE_CODE), whatever language
    the thread that ran the sync had active."""
    with translation.override(settings.LANGUAGE_CODE):
        return _evaluate_run(run, now)


def _evaluate_run(run: SyncRun, now: datetime | None) -> tuple[int, int]:
    now = now or timezone.now()
    rules = rules_for(run.account_id, run.kind)
    if not rules:
        return 0, 0
    opened = resolved = 0
    written = _written(run)
    for rule in rules:
        if rule.when == AlertRule.When.STALE:
            o, r = _stale(rule, run, now)
        elif rule.when == AlertRule.When.FAILED:
            o, r = _failed(rule, _scoped(rule, written), now)
        elif rule.when == AlertRule.When.STUCK:
            o, r = _stuck(rule, run, now)
        elif rule.when == AlertRule.When.SPIKE:
            o, r = _spike(rule, run, now)
        elif rule.when == AlertRule.When.ASSESSMENT and run.kind == Kind.VOICE_ASSESSMENT:
            o, r = _assessment(rule, _scoped(rule, written), now)
        else:
            continue
        opened, resolved = opened + o, resolved + r
    return opened, resolved


# Up to this many jobs written by a run are named by id (read from the job_synced index alone);
# a run that wrote more (a first sync) is narrowed by account and kind instead.
WRITTEN_BY_ID = 5000


def _written(run: SyncRun):
    """The jobs this run and the one before it wrote. Read as a range of job_synced only, account
    and kind compared here: given those columns too, SQLite walked the account's whole (account,
    kind) index instead (0.1 s at 100,000 jobs for every run)."""
    since = (
        SyncRun.objects.filter(account_id=run.account_id, kind=run.kind, started_at__lt=run.started_at)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    ) or run.started_at
    recent = Job.objects.filter(synced_at__gte=since).values_list("pk", "account_id", "kind")
    ids = []
    for pk, account_id, kind in recent.iterator(chunk_size=2000):
        if account_id == run.account_id and kind == run.kind:
            ids.append(pk)
            if len(ids) > WRITTEN_BY_ID:
                return Job.objects.filter(account_id=run.account_id, kind=run.kind, synced_at__gte=since)
    return Job.objects.filter(pk__in=ids)


def _job_link(job_id: int) -> str:
    return reverse("job_detail", args=[job_id])


def _job_alert(job: Job, title: str, detail: str) -> dict:
    return {
        "key": f"job:{job.pk}",
        "title": title,
        "detail": detail,
        "link": _job_link(job.pk),
        "job": job,
        "account_id": job.account_id,
    }


def _failed(rule: AlertRule, written, now) -> tuple[int, int]:
    failed = written.filter(status=Status.FAILED, state_changed_at__gte=rule.created_at).select_related("account")
    found = []
    for job in failed.order_by("state_changed_at", "id"):
        reason = " ".join(p for p in (job.error_code, job.error_message) if p) or job.state
        detail = f"{job.account.name} · {job.get_kind_display()} · {reason}"
        found.append(_job_alert(job, f"Failed: {job.name or job.remote_id}", detail))
    opened = _open_many(rule, found, now)
    # The rule's open alerts on jobs this run wrote that are no longer failed.
    moved_on = Alert.objects.filter(
        rule=rule, resolved_at__isnull=True, job__in=written.exclude(status=Status.FAILED)
    ).values_list("key", flat=True)
    return opened, _resolve(rule, list(moved_on), now)


def _stuck(rule: AlertRule, run: SyncRun, now) -> tuple[int, int]:
    jobs = _scoped(rule, Job.objects.filter(account_id=run.account_id, kind=run.kind, gone=False))
    stuck = list(jobs.filter(stuck_q(now)).select_related("account").order_by("state_changed_at", "id")[:STUCK_SCAN])
    found = []
    for job in stuck:
        hours = (now - job.state_changed_at).total_seconds() / 3600
        detail = f"{job.account.name} · {job.get_kind_display()} · {job.state} for {hours:.0f} h"
        found.append(_job_alert(job, f"Stuck: {job.name or job.remote_id}", detail))
    opened = _open_many(rule, found, now)
    keys = {f["key"] for f in found}
    open_ids = [
        int(key.partition(":")[2])
        for key in Alert.objects.filter(rule=rule, resolved_at__isnull=True, account_id=run.account_id)
        .filter(job__kind=run.kind)
        .values_list("key", flat=True)
        if key not in keys
    ]
    still = set(jobs.filter(pk__in=open_ids).filter(stuck_q(now)).values_list("pk", flat=True))
    return opened, _resolve(rule, [f"job:{pk}" for pk in open_ids if pk not in still], now)


def _spike(rule: AlertRule, run: SyncRun, now) -> tuple[int, int]:
    since = now - timedelta(minutes=rule.minutes)
    # A range of (status, state_changed_at); the account and kind compared here (as _written).
    recent = _scoped(rule, Job.objects.filter(status=Status.FAILED, state_changed_at__gte=since))
    failures = sum(
        1
        for account_id, kind in recent.values_list("account_id", "kind").iterator(chunk_size=2000)
        if account_id == run.account_id and kind == run.kind
    )
    key = f"spike:{run.account_id}:{run.kind}"
    if failures >= rule.limit:
        kind = Kind(run.kind).label if run.kind in Kind.values else run.kind
        return (
            _open(
                rule,
                key,
                title=f"Failure spike: {failures} {kind} failures in {rule.minutes} min",
                detail=f"{run.account.name}: {failures} failed jobs since {since:%Y-%m-%d %H:%M} UTC",
                link=reverse("job_list") + f"?status=failed&account={run.account_id}&kind={run.kind}",
                account_id=run.account_id,
                now=now,
            ),
            0,
        )
    return 0, _resolve(rule, [key], now)


def _stale(rule: AlertRule, run: SyncRun, now) -> tuple[int, int]:
    key = f"account:{run.account_id}"
    if run.outcome == SyncRun.Outcome.FAILED:
        reason = run.error_message or run.error_code or "sync failed"
        return (
            _open(
                rule,
                key,
                title=f"Sync failing: {run.account.name}",
                detail=f"{run.get_kind_display()}: {reason}"[:2000],
                link=reverse("sync"),
                account_id=run.account_id,
                now=now,
            ),
            0,
        )
    if run.outcome == SyncRun.Outcome.SUCCEEDED:
        return 0, _resolve(rule, [key], now)
    return 0, 0


def evaluate_stale(now: datetime | None = None) -> tuple[int, int]:
    """The time-driven half of ``stale`` (beat runs it with the sender, every 30 s): an enabled
    account whose last successful sync is older than the rule's window (default 60 minutes, at
    least twice the account's own interval) opens a "stale" alert, e.g. when no worker or beat
    runs; a success since resolves it. A few rows read: the rules and the accounts."""
    now = now or timezone.now()
    opened = resolved = 0
    with translation.override(settings.LANGUAGE_CODE):
        rules = AlertRule.objects.filter(enabled=True, when=AlertRule.When.STALE).prefetch_related(
            "accounts", "channels"
        )
        accounts = list(CloudAccount.objects.filter(enabled=True))
        for rule in rules:
            scope = {a.pk for a in rule.accounts.all()}
            for account in accounts:
                if scope and account.pk not in scope:
                    continue
                limit = timedelta(seconds=max(rule.minutes * 60, 2 * max(account.sync_interval, 60)))
                since = account.last_success_at or account.created_at
                key = f"stale:{account.pk}"
                if now - since > limit:
                    last = f"{account.last_success_at:%Y-%m-%d %H:%M} UTC" if account.last_success_at else "never"
                    opened += _open(
                        rule,
                        key,
                        title=f"Sync stale: {account.name}",
                        detail=f"no successful sync for {(now - since).total_seconds() / 60:.0f} min (last: {last})",
                        link=reverse("sync"),
                        account_id=account.pk,
                        now=now,
                    )
                else:
                    resolved += _resolve(rule, [key], now)
    return opened, resolved


def _assessment(rule: AlertRule, written, now) -> tuple[int, int]:
    bad = (
        AssessmentMetric.objects.filter(assessment__job__in=written)
        .exclude(status=0)
        .exclude(status__isnull=True)
        .values("assessment__job_id")
        .annotate(n=Count("id"))
        .filter(n__gte=rule.limit)
    )
    counts = {row["assessment__job_id"]: row["n"] for row in bad}
    found = [
        _job_alert(
            job,
            f"Assessment failed {counts[job.pk]} of 6 metrics: {job.name or job.remote_id}",
            f"{job.account.name} · {job.get_kind_display()}",
        )
        for job in Job.objects.filter(pk__in=counts).select_related("account").order_by("id")
    ]
    return _open_many(rule, found, now), 0


def _deliveries(rule: AlertRule, alerts: list[Alert], event: str, now) -> None:
    muted = rule.muted(now)
    AlertDelivery.objects.bulk_create(
        [
            AlertDelivery(
                alert=alert,
                channel=channel,
                event=event,
                status=AlertDelivery.Status.SKIPPED if muted or not channel.enabled else AlertDelivery.Status.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for alert in alerts
            for channel in rule.channels.all()
        ],
        batch_size=500,
    )


def _open(rule: AlertRule, key: str, *, title, detail, link, now, job=None, account_id=None) -> int:
    """Open the rule's alert on ``key`` unless one is open; 1 if this call opened it."""
    found = {"key": key, "title": title, "detail": detail, "link": link, "job": job, "account_id": account_id}
    return _open_many(rule, [found], now)


def _open_many(rule: AlertRule, found: list[dict], now) -> int:
    """Open the rule's alerts on the subjects in ``found`` that have none open, with their
    deliveries, in one transaction (a few queries for hundreds: a sync that fails 500 jobs
    must not pay 500 round trips). Returns how many it opened."""
    if not found:
        return 0
    found = list({f["key"]: f for f in found}.values())
    keys = [f["key"] for f in found]
    already = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        already.update(
            Alert.objects.filter(rule=rule, key__in=chunk, resolved_at__isnull=True).values_list("key", flat=True)
        )
    new = [
        Alert(
            rule=rule,
            key=f["key"],
            job=f.get("job"),
            account_id=f.get("account_id"),
            title=f["title"][:300],
            detail=f["detail"],
            link=f["link"],
            opened_at=now,
        )
        for f in found
        if f["key"] not in already
    ]
    if not new:
        return 0
    try:
        with transaction.atomic():
            created = Alert.objects.bulk_create(new, batch_size=500)
            _deliveries(rule, created, AlertDelivery.Event.FIRED, now)
        return len(created)
    except IntegrityError:  # another evaluation opened some of them meanwhile: one by one
        opened = 0
        for alert in new:
            alert.pk = None
            try:
                with transaction.atomic():
                    alert.save()
                    _deliveries(rule, [alert], AlertDelivery.Event.FIRED, now)
                opened += 1
            except IntegrityError:
                continue
        return opened


def _resolve(rule: AlertRule, keys: list[str], now) -> int:
    """Resolve the rule's open alerts on ``keys``, with their deliveries, in one transaction."""
    resolved = 0
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        with transaction.atomic():
            ids = list(
                Alert.objects.select_for_update()
                .filter(rule=rule, key__in=chunk, resolved_at__isnull=True)
                .values_list("pk", flat=True)
            )
            if not ids:
                continue
            Alert.objects.filter(pk__in=ids).update(resolved_at=now)
            _deliveries(rule, [Alert(pk=pk) for pk in ids], AlertDelivery.Event.RESOLVED, now)
            resolved += len(ids)
    return resolved
