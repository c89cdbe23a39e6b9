"""/metrics: Prometheus metrics read from the database at scrape time.

Counted from the rows (not from counters in this process: gunicorn runs several workers and
the syncs run in Celery), so every web worker answers the same figures. The ``_total`` counters
and the duration histogram sum the runs started since 00:00 UTC, and start again from zero
each day (a counter reset, which rate() and increase() expect; OpenMetrics ``_created`` says
when): summing every run ever kept would read the whole table at each scrape. A run still going
at midnight is not counted.

A scrape costs a few aggregate queries over the runs started since the last full hour; the sums
of the day's earlier runs are kept (in the Django cache) for the rest of the hour, and the last
success before today for the rest of the day. Figures in the README (Monitoring).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Count, F, FloatField, Func, Max, Min, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString

from jobs import health, selectors
from jobs.models import CloudAccount, Heartbeat, Status, SyncRun

log = logging.getLogger(__name__)

# Sync durations run from under a second (an incremental refresh with nothing new) to half an
# hour (a first full listing of 100,000 jobs; the task's time limit).
BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
FINISHED = (SyncRun.Outcome.SUCCEEDED, SyncRun.Outcome.PARTIAL, SyncRun.Outcome.FAILED, SyncRun.Outcome.SKIPPED)
# The day's runs started before the last full hour are summed once an hour in each process.
PERIOD_SECONDS = 3600
TOTALS_KEY = "tod:metrics:runs:{}"
LAST_SUCCESS_KEY = "tod:metrics:last-success-before:{}"


class RunSeconds(Func):
    """finished_at - started_at in seconds, with each database's own date arithmetic: Django's
    portable DurationField subtraction calls a Python function per row on SQLite."""

    arity = 2
    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday("
        )


@dataclass
class Totals:
    """Sums over the runs of one account, kind, mode and outcome."""

    runs: int = 0
    api_calls: int = 0
    throttled: int = 0
    failed_calls: int = 0
    seconds: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))  # cumulative, per BUCKETS
    last_finished: datetime | None = None
    first_started: datetime | None = None

    def add(self, other: Totals) -> None:
        self.runs += other.runs
        self.api_calls += other.api_calls
        self.throttled += other.throttled
        self.failed_calls += other.failed_calls
        self.seconds += other.seconds
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]
        self.last_finished = max(filter(None, (self.last_finished, other.last_finished)), default=None)
        self.first_started = min(filter(None, (self.first_started, other.first_started)), default=None)


Key = tuple[int, str, str, str]  # account_id, kind, mode, outcome


def _aggregate(qs: QuerySet[SyncRun]) -> dict[Key, Totals]:
    """One GROUP BY over ``qs``: sums, duration buckets, last finish and first start."""
    sums = {
        "n": Count("pk"),
        "calls": Sum("api_calls"),
        "throttled_calls": Sum("throttled"),
        "failed": Sum("failed_calls"),
        "secs": Sum("took"),
        "last": Max("finished_at"),
        "first": Min("started_at"),
    }
    sums.update({f"le{i}": Count("pk", filter=Q(took__lte=b)) for i, b in enumerate(BUCKETS)})
    rows = (
        qs.alias(took=RunSeconds(F("finished_at"), F("started_at")))
        .values("account_id", "kind", "mode", "outcome")
        .annotate(**sums)
        .order_by()
    )
    return {
        (r["account_id"], r["kind"], r["mode"], r["outcome"]): Totals(
            runs=r["n"],
            api_calls=r["calls"] or 0,
            throttled=r["throttled_calls"] or 0,
            failed_calls=r["failed"] or 0,
            seconds=max(0.0, r["secs"] or 0.0),
            buckets=[r[f"le{i}"] for i in range(len(BUCKETS))],
            last_finished=r["last"],
            first_started=r["first"],
        )
        for r in rows
    }


def _merge(into: dict[Key, Totals], more: dict[Key, Totals]) -> None:
    for key, totals in more.items():
        if key[3] in FINISHED:
            into.setdefault(key, Totals()).add(totals)


def _started(since: datetime, before: datetime | None = None) -> QuerySet[SyncRun]:
    """Runs started in [since, before), read through the started_at index."""
    runs = SyncRun.objects.filter(started_at__gte=since)
    if before is not None:
        runs = runs.filter(started_at__lt=before)
    if connection.vendor == "sqlite":
        # Without statistics SQLite walks the (account, kind, started_at) index for the GROUP BY:
        # 250 ms instead of 13 for an hour's runs among 500,000. Named by primary key, the rows
        # come from the started_at index. (PostgreSQL would hash such an IN over a full scan.)
        return SyncRun.objects.filter(pk__in=runs.values("pk"))
    return runs


def day_start(now: datetime) -> datetime:
    return datetime.fromtimestamp(now.timestamp() // 86400 * 86400, tz=UTC)


def run_totals(now: datetime) -> dict[Key, Totals]:
    """Totals over the finished runs started today (UTC), by account, kind, mode and outcome.

    Each run counts in one part: started before the hour and finished when that part was summed
    (kept for the hour); started before the hour but unfinished then (re-read by id); the rest.
    """
    day = day_start(now)
    cutoff = datetime.fromtimestamp(now.timestamp() // PERIOD_SECONDS * PERIOD_SECONDS, tz=UTC)
    key = TOTALS_KEY.format(int(cutoff.timestamp()))
    kept = cache.get(key)
    if kept is None:
        before = _aggregate(_started(day, cutoff))
        finished: dict[Key, Totals] = {}
        _merge(finished, before)
        waiting = [t.first_started for k, t in before.items() if k[3] not in FINISHED and t.first_started]
        pending = []
        if waiting:
            unfinished = SyncRun.objects.filter(started_at__gte=min(waiting), started_at__lt=cutoff)
            pending = list(unfinished.exclude(outcome__in=FINISHED).values_list("pk", flat=True))
        kept = (finished, pending)
        cache.set(key, kept, 2 * PERIOD_SECONDS)
    finished, pending = kept
    totals: dict[Key, Totals] = {}
    _merge(totals, finished)
    _merge(totals, _aggregate(_started(cutoff)))
    if pending:  # one that has started since (queued, then run) is in the part above
        _merge(totals, _aggregate(SyncRun.objects.filter(pk__in=pending, started_at__gte=day, started_at__lt=cutoff)))
    return totals


def last_success_before(day: datetime, pairs: list[tuple[int, str]]) -> dict[tuple[int, str], float]:
    """When the last successful listing of each (account, kind) started before ``day`` finished
    (Unix time, 0 = never); one indexed query per pair, once a day."""
    key = LAST_SUCCESS_KEY.format(int(day.timestamp()))
    known = cache.get(key) or {}
    missing = [pair for pair in pairs if pair not in known]
    for pk, kind in missing:
        # A kind that never succeeded reads all its runs' index entries here, once a day.
        runs = SyncRun.objects.filter(account_id=pk, kind=kind, started_at__lt=day, outcome=SyncRun.Outcome.SUCCEEDED)
        runs = runs.exclude(mode=SyncRun.Mode.REFRESH).order_by("-started_at")
        last = runs.values_list("finished_at", flat=True).first()
        known[(pk, kind)] = last.timestamp() if last else 0.0
    if missing:
        cache.set(key, known, 86400 + PERIOD_SECONDS)
    return known


class DatabaseCollector:
    """Every tod_ metric, read from the database when Prometheus scrapes."""

    def collect(self):
        started = time.monotonic()
        now = timezone.now()
        accounts = {a.pk: a for a in CloudAccount.objects.order_by("name")}
        totals = run_totals(now)
        pairs = self._pairs(accounts, totals)
        by_pair: dict[tuple[int, str], list[tuple[str, str, Totals]]] = {pair: [] for pair in pairs}
        for (pk, kind, mode, outcome), t in totals.items():
            if (pk, kind) in by_pair:
                by_pair[(pk, kind)].append((mode, outcome, t))
        families = [
            *self._runs(accounts, by_pair, day_start(now).timestamp()),
            *self._last_success(accounts, by_pair, now),
            self._durations(totals),
            self._jobs(accounts, selectors.status_counts()),
            *self._accounts(accounts, now),
            *self._dispatcher(now),
        ]
        took = GaugeMetricFamily(
            "tod_metrics_scrape_duration_seconds",
            "Time this scrape spent reading the database.",
            value=time.monotonic() - started,
        )
        yield from [*families, took]

    @staticmethod
    def _pairs(accounts: dict[int, CloudAccount], totals: dict[Key, Totals]) -> list[tuple[int, str]]:
        """(account, kind) pairs: every kind each account syncs, and any with runs today."""
        pairs = {(pk, kind) for pk, account in accounts.items() for kind in account.sync_kinds()}
        pairs |= {(k[0], k[1]) for k in totals if k[0] in accounts}
        return sorted(pairs, key=lambda p: (accounts[p[0]].name, p[1]))

    def _runs(self, accounts, by_pair, since):
        labels = ["account", "kind"]
        runs = CounterMetricFamily(
            "tod_sync_runs_total", "Finished sync runs by outcome (since 00:00 UTC).", labels=[*labels, "outcome"]
        )
        calls = CounterMetricFamily(
            "tod_sync_api_calls_total", "Vendor API calls made by sync runs (since 00:00 UTC).", labels=labels
        )
        throttled = CounterMetricFamily(
            "tod_sync_throttled_total",
            "Vendor answers that throttled a sync run: HTTP 429 or the vendor's throttling code (since 00:00 UTC).",
            labels=labels,
        )
        failed = CounterMetricFamily(
            "tod_sync_failed_calls_total",
            "Vendor call attempts that failed, throttled ones included (since 00:00 UTC).",
            labels=labels,
        )
        for (pk, kind), mine in by_pair.items():
            label = [accounts[pk].name, kind]
            for outcome in FINISHED:
                n = sum(t.runs for _, o, t in mine if o == outcome)
                runs.add_metric([*label, outcome], n, created=since)
            calls.add_metric(label, sum(t.api_calls for *_, t in mine), created=since)
            throttled.add_metric(label, sum(t.throttled for *_, t in mine), created=since)
            failed.add_metric(label, sum(t.failed_calls for *_, t in mine), created=since)
        return [runs, calls, throttled, failed]

    def _last_success(self, accounts, by_pair, now):
        labels = ["account", "kind"]
        stamp = GaugeMetricFamily(
            "tod_sync_last_success_timestamp_seconds",
            "When the last successful sync of this account and kind finished (Unix time; 0 = never).",
            labels=labels,
        )
        age = GaugeMetricFamily(
            "tod_sync_last_success_age_seconds",
            "Seconds since the last successful sync of this account and kind finished (+Inf = never).",
            labels=labels,
        )
        earlier = last_success_before(day_start(now), list(by_pair))
        for (pk, kind), mine in by_pair.items():
            # A one-job refresh says nothing about the rest of the kind's jobs.
            today = [
                t.last_finished.timestamp()
                for mode, outcome, t in mine
                if outcome == SyncRun.Outcome.SUCCEEDED and mode != SyncRun.Mode.REFRESH
            ]
            last = max([earlier[(pk, kind)], *today])
            label = [accounts[pk].name, kind]
            stamp.add_metric(label, last)
            age.add_metric(label, max(0.0, now.timestamp() - last) if last else math.inf)
        return [stamp, age]

    def _durations(self, totals):
        family = HistogramMetricFamily(
            "tod_sync_duration_seconds",
            "How long finished sync runs took, by kind and mode (skipped runs left out).",
            labels=["kind", "mode"],
        )
        merged: dict[tuple[str, str], Totals] = {}
        for (_, kind, mode, outcome), t in totals.items():
            if outcome != SyncRun.Outcome.SKIPPED:
                merged.setdefault((kind, mode), Totals()).add(t)
        for (kind, mode), t in sorted(merged.items()):
            buckets = [(floatToGoString(b), n) for b, n in zip(BUCKETS, t.buckets)] + [("+Inf", t.runs)]
            family.add_metric([kind, mode], buckets, sum_value=t.seconds)
        return family

    def _jobs(self, accounts, counts):
        family = GaugeMetricFamily(
            "tod_jobs",
            "Cached jobs still listed by the vendor, by unified status.",
            labels=["account", "kind", "status"],
        )
        pairs = {(pk, kind) for pk, account in accounts.items() for kind in account.sync_kinds()}
        pairs |= {pair for pair in counts if pair[0] in accounts}
        for pk, kind in sorted(pairs, key=lambda p: (accounts[p[0]].name, p[1])):
            by_status = counts.get((pk, kind), {})
            for status in Status.values:
                family.add_metric([accounts[pk].name, kind, status], by_status.get(status, 0))
        return family

    def _accounts(self, accounts, now):
        enabled = GaugeMetricFamily(
            "tod_account_enabled", "1 when the account is synced on its schedule.", labels=["account"]
        )
        lease = GaugeMetricFamily(
            "tod_account_lease_held", "1 while a sync holds the account's lease.", labels=["account"]
        )
        for account in accounts.values():
            enabled.add_metric([account.name], int(account.enabled))
            held = bool(account.lease_owner) and account.lease_until is not None and account.lease_until > now
            lease.add_metric([account.name], int(held))
        return [enabled, lease]

    def _dispatcher(self, now):
        out = []
        at = Heartbeat.objects.filter(name=health.DISPATCHER).values_list("at", flat=True).first()
        if at is not None:
            out.append(
                GaugeMetricFamily(
                    "tod_dispatcher_heartbeat_age_seconds",
                    "Seconds since Celery beat's dispatcher last started a round (absent: never).",
                    value=max(0.0, (now - at).total_seconds()),
                )
            )
        max_age = health.dispatcher_max_age()
        if max_age is not None:
            out.append(
                GaugeMetricFamily(
                    "tod_dispatcher_heartbeat_max_age_seconds",
                    "The heartbeat age /healthz accepts (absent: no dispatcher is scheduled).",
                    value=max_age,
                )
            )
        return out


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(DatabaseCollector())


@login_not_required
@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format (or OpenMetrics when asked), for a token holder or an
    allowed address (jobs.health.refusal)."""
    refused = health.refusal(request)
    if refused is not None:
        return refused
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    try:
        body = encoder(REGISTRY)
    except DatabaseError as exc:
        log.warning("metrics: database unavailable: %s", type(exc).__name__)
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=content_type)
