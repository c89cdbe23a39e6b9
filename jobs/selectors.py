"""Read queries for the dashboard: filters, keyset pages, bounded counts, timelines, roll-ups.

Views call these and render; nothing here writes.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Count, F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import (
    ACTIVE_STATUSES,
    CloudAccount,
    Job,
    Status,
    SyncRun,
)

COUNT_LIMIT = 1000
STATUS_COUNTS_CACHE_SECONDS = 60

# sort name -> (field, descending); the id breaks ties in the same direction. Each has a
# (field, id) index (models.Job.Meta) that a keyset page walks.
SORTS = {
    "updated": ("updated_at", True),
    "created": ("created_at", True),
    "name": ("name", False),
    "state_age": ("state_changed_at", False),  # longest in its state first
    "started": ("started_at", True),
    "finished": ("finished_at", True),
}
# Sorts on a column that may be NULL: the jobs without a value come last (see job_page).
NULLABLE_SORTS = {"started", "finished"}
DEFAULT_SORT = "updated"
MAX_ID = 2**63 - 1  # the largest id a bigint column holds (SQLite raises past it)
FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)
LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


class BadCursor(ValueError):
    pass


# --- stuck limits -------------------------------------------------------------------------


def stuck_limit(kind: str, state: str) -> timedelta | None:
    """The hours a job of `kind` may stay in `state`, or None when there is no limit."""
    limits = settings.STUCK_LIMIT_HOURS
    hours = limits.get(f"{kind}:{state}", limits.get(f"{kind}:*"))
    return timedelta(hours=hours) if hours is not None else None


def stuck_q(now: datetime | None = None) -> Q:
    """Jobs still moving whose current state is older than its limit."""
    now = now or timezone.now()
    limits = settings.STUCK_LIMIT_HOURS
    clauses = Q(pk__in=[])
    specific = {}
    for key in limits:
        kind, _, state = key.partition(":")
        if state != "*":
            specific.setdefault(kind, []).append(state)
    for key, hours in limits.items():
        kind, _, state = key.partition(":")
        cutoff = now - timedelta(hours=hours)
        if state == "*":
            clause = Q(kind=kind, state_changed_at__lt=cutoff)
            if specific.get(kind):
                clause &= ~Q(state__in=specific[kind])
        else:
            clause = Q(kind=kind, state=state, state_changed_at__lt=cutoff)
        clauses |= clause
    return Q(status__in=ACTIVE_STATUSES) & clauses


def is_stuck(job: Job, now: datetime | None = None) -> bool:
    if job.status not in ACTIVE_STATUSES:
        return False
    limit = stuck_limit(job.kind, job.state)
    return bool(limit) and (now or timezone.now()) - job.state_changed_at > limit


# --- the job list --------------------------------------------------------------------------


def filter_jobs(filters: dict[str, Any], now: datetime | None = None) -> QuerySet[Job]:
    """Jobs matching the cleaned JobFilterForm data (every key optional)."""
    qs = Job.objects.all()
    f = filters
    if not f.get("include_gone"):
        qs = qs.filter(gone=False)
    if f.get("account"):
        qs = qs.filter(account__in=f["account"])
    if f.get("cloud"):
        qs = qs.filter(account__provider__in=f["cloud"])
    if f.get("kind"):
        qs = qs.filter(kind__in=f["kind"])
    if f.get("status"):
        qs = qs.filter(status__in=f["status"])
    if f.get("state"):
        qs = qs.filter(state=f["state"])
    if f.get("batch"):
        qs = qs.filter(batch=f["batch"])
    if f.get("tag"):
        qs = qs.filter(tags_text__contains=f"|{f['tag']}|")
    if f.get("failure"):  # jobs.triage: only failed jobs have a group (and the index says so)
        qs = qs.filter(status=Status.FAILED, failure_group=f["failure"])
    if f.get("q"):
        text = f["q"]
        # A pasted vendor id is answered from the remote_id index; anything else (or an id we
        # do not have) searches names. An OR of the two would scan the whole table.
        # Matching rows are named by primary key, so no planner prefers an order-by index scan.
        ids = list(Job.objects.filter(remote_id=text).values_list("id", flat=True)[:100])
        if ids:
            qs = qs.filter(pk__in=ids)
        else:
            qs = qs.filter(name__icontains=text)
    for name in ("created", "updated"):
        start, end = f.get(f"{name}_from"), f.get(f"{name}_to")
        if start:
            qs = qs.filter(**{f"{name}_at__gte": start})
        if end:
            qs = qs.filter(**{f"{name}_at__lt": end})
    if f.get("stuck"):
        qs = qs.filter(stuck_q(now))
    return qs


def encode_cursor(value: datetime | str | None, pk: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, pk], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def to_utc(value: datetime) -> datetime | None:
    """An aware time in UTC, or None when UTC cannot hold it (0001-01-01T00:00+14:00)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def decode_cursor(cursor: str, sort: str) -> tuple[datetime | str | None, int]:
    """The (value, id) an encode_cursor wrote; BadCursor for anything no page could end on."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        raise BadCursor(cursor) from None
    if type(pk) is not int or not 0 < pk <= MAX_ID:
        raise BadCursor(cursor)
    if value is None and sort in NULLABLE_SORTS:  # a page that ended among the jobs without one
        return None, pk
    if not isinstance(value, str):
        raise BadCursor(cursor)
    if SORTS[sort][0] == "name":
        # No name holds a NUL (PostgreSQL refuses it in a query) or is longer than the column.
        if "\x00" in value or len(value) > Job._meta.get_field("name").max_length:
            raise BadCursor(cursor)
        return value, pk
    try:
        when = parse_datetime(value)
    except ValueError:  # well formed but impossible: 2026-02-30
        when = None
    if when is None or when.tzinfo is None or to_utc(when) is None:
        raise BadCursor(cursor)
    return to_utc(when), pk


def order_jobs(qs: QuerySet[Job], sort: str) -> QuerySet[Job]:
    field_name, desc = SORTS[sort]
    if sort in NULLABLE_SORTS:
        return qs.order_by(F(field_name).desc(nulls_last=True), F("id").desc())
    if desc:
        return qs.order_by(F(field_name).desc(), F("id").desc())
    return qs.order_by(field_name, "id")


def after_cursor(qs: QuerySet[Job], sort: str, cursor: tuple[datetime | str | None, int]) -> QuerySet[Job]:
    """Rows after the cursor. The plain range predicate leads, so the planner starts the
    index scan at the cursor instead of filtering the whole index with the OR. A nullable
    sort's rows with a value only (job_page adds the rest)."""
    value, pk = cursor
    field_name, desc = SORTS[sort]
    if value is None:
        return qs.filter(**{f"{field_name}__isnull": True, "id__lt": pk})
    if desc:
        return qs.filter(**{f"{field_name}__lte": value}).filter(Q(**{f"{field_name}__lt": value}) | Q(id__lt=pk))
    return qs.filter(**{f"{field_name}__gte": value}).filter(Q(**{f"{field_name}__gt": value}) | Q(id__gt=pk))


# What a list row shows (templatetags job_rows: the failure reason too), is_stuck decides and
# the poll compares: the payload and timeline columns stay in the database (a page of 50 full
# rows cost more to decode than to find).
ROW_FIELDS = (
    "id", "account_id", "kind", "remote_id", "name", "state", "status", "created_at", "updated_at",
    "batch", "tags", "gone", "state_changed_at", "synced_at", "account__name", "account__provider",
    "error_code", "error_message",
)  # fmt: skip


@dataclass
class JobPage:
    rows: list
    next_cursor: str | None
    cursor_field: str = "updated_at"


def job_page(
    qs: QuerySet[Job], sort: str = DEFAULT_SORT, cursor: tuple[datetime | str | None, int] | None = None, size: int = 50
) -> JobPage:
    """One keyset page: `size` rows after `cursor` (decoded) and the cursor for the next."""
    qs = qs.select_related("account").only(*ROW_FIELDS)
    if sort in NULLABLE_SORTS:
        return _nullable_page(qs, sort, cursor, size)
    qs = order_jobs(qs, sort)
    if cursor:
        qs = after_cursor(qs, sort, cursor)
    return _page_of(list(qs[: size + 1]), sort, size)


def _nullable_page(qs, sort, cursor, size):
    """Newest first, then the jobs without a value by id: two range scans of the (field, id)
    index, each in index order (one ORDER BY ... NULLS LAST matches no PostgreSQL btree order
    that also serves the range)."""
    field_name = SORTS[sort][0]
    desc = (F(field_name).desc(), F("id").desc())
    rows = []
    if not cursor or cursor[0] is not None:
        valued = qs.filter(**{f"{field_name}__isnull": False}).order_by(*desc)
        rows = list((after_cursor(valued, sort, cursor) if cursor else valued)[: size + 1])
        cursor = None
    if len(rows) <= size:
        blank = qs.filter(**{f"{field_name}__isnull": True}).order_by(*desc)
        rows += list((after_cursor(blank, sort, cursor) if cursor else blank)[: size + 1 - len(rows)])
    return _page_of(rows, sort, size)


def _page_of(rows, sort, size):
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, SORTS[sort][0]), last.pk)
    return JobPage(rows=rows, next_cursor=next_cursor)


@dataclass
class BoundedCount:
    n: int
    more: bool

    def __str__(self):
        return f"{self.n:,}+" if self.more else f"{self.n:,}"


def bounded_count(qs: QuerySet, limit: int = COUNT_LIMIT) -> BoundedCount:
    """COUNT over at most limit+1 rows: cheap on a big table, exact when small."""
    n = qs.order_by()[: limit + 1].count()
    return BoundedCount(min(n, limit), n > limit)


def status_chips(qs_without_status: QuerySet[Job], limit: int = COUNT_LIMIT) -> list[tuple[str, str, BoundedCount]]:
    """A bounded count per unified status, in one statement: the filter is compiled once and
    each status's COUNT over at most limit+1 rows (each can use a status index) is one arm of
    a UNION ALL. Nine ORM queries cost more to build than to run."""
    marker = f"status-{uuid.uuid4().hex}"
    # Ordered by first_seen_at, which only job_live_status (status, first_seen_at) gives: each
    # arm reads at most limit+1 entries of that index. Unordered or in id order, PostgreSQL
    # expects the limit within the first rows of a table or primary key scan, which a sync
    # appending rows of other statuses makes false (20-100 ms an arm, seen in bench/soak).
    inner = qs_without_status.filter(status=marker).order_by("first_seen_at").values("status")[: limit + 1]
    sql, params = inner.query.sql_with_params()
    at = [i for i, value in enumerate(params) if value == marker]
    if len(at) != 1:  # a filter compiled the status twice (or not at all): one query each
        return [(v, label, bounded_count(qs_without_status.filter(status=v), limit)) for v, label in Status.choices]
    arms, args = [], []
    for value, _label in Status.choices:
        arms.append(f"SELECT COUNT(*) FROM ({sql}) AS s")
        args += [*params[: at[0]], value, *params[at[0] + 1 :]]
    with connections[inner.db].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(arms), args)
        counts = [n for (n,) in cursor.fetchall()]
    return [
        (value, label, BoundedCount(min(n, limit), n > limit))
        for (value, label), n in zip(Status.choices, counts, strict=True)
    ]


def total_of(chips, statuses=()) -> BoundedCount:
    """The total of the chosen statuses' chips (all of them when none is chosen): exact when
    every chip is, else a lower bound."""
    chosen = [count for value, _label, count in chips if not statuses or value in statuses]
    return BoundedCount(sum(c.n for c in chosen), any(c.more for c in chosen))


# --- polling ------------------------------------------------------------------------------


def change_cursor() -> datetime | None:
    """The newest `synced_at` in the cache (one step down the job_synced index): a poll asks
    for rows of its filter changed after it."""
    return Job.objects.order_by().aggregate(m=Max("synced_at"))["m"]


def changed_since(qs: QuerySet[Job], since: datetime, size: int = 50) -> list[Job]:
    return list(
        qs.filter(synced_at__gt=since)
        .select_related("account")
        .only(*ROW_FIELDS)
        .order_by(F("synced_at").desc(), F("id").desc())[:size]
    )


# --- overview -----------------------------------------------------------------------------


def status_counts() -> dict[tuple[int, str], dict[str, int]]:
    """{(account_id, kind): {status: n}} over jobs still listed by the vendor.

    A scan of the job_overview_counts index; kept for a minute, or until the cache changes
    (the change cursor moves)."""
    cursor = change_cursor()
    key = f"jobs:status_counts:{cursor.timestamp() if cursor else 0}"
    counts = cache.get(key)
    if counts is None:
        counts = {}
        rows = Job.objects.filter(gone=False).values("account_id", "kind", "status").annotate(n=Count("*")).order_by()
        for row in rows:
            counts.setdefault((row["account_id"], row["kind"]), {})[row["status"]] = row["n"]
        cache.set(key, counts, STATUS_COUNTS_CACHE_SECONDS)
    return counts


def recent_failures(limit: int = 10) -> list[Job]:
    return list(
        Job.objects.filter(gone=False, status=Status.FAILED)
        .select_related("account")
        .order_by(F("updated_at").desc(), F("id").desc())[:limit]
    )


def accounts() -> list[CloudAccount]:
    return list(CloudAccount.objects.order_by("name"))


def freshness(account: CloudAccount, now: datetime | None = None) -> str:
    """'fresh', 'stale' or 'never', judged against the account's own sync interval."""
    now = now or timezone.now()
    if not account.last_success_at:
        return "never"
    if now - account.last_success_at <= timedelta(seconds=2 * max(account.sync_interval, 60)):
        return "fresh"
    return "stale"


# --- sync runs ----------------------------------------------------------------------------


def recent_sync_runs(per_kind: int = 5) -> dict[tuple[int, str], list[SyncRun]]:
    """The newest runs per account and kind, one query (a window function)."""
    ranked = SyncRun.objects.annotate(
        rank=Window(RowNumber(), partition_by=[F("account_id"), F("kind")], order_by=F("started_at").desc())
    )
    runs = ranked.filter(rank__lte=per_kind).select_related("account").order_by("account__name", "kind", "-started_at")
    grouped = {}
    for run in runs:
        grouped.setdefault((run.account_id, run.kind), []).append(run)
    return grouped


def sync_runs(ids: list[int]) -> list[SyncRun]:
    return list(SyncRun.objects.filter(pk__in=ids).select_related("account").order_by("account__name", "kind", "pk"))


def active_sync_runs(account_id: int | None = None, now: datetime | None = None) -> dict[int, list[SyncRun]]:
    """{account_id: its QUEUED or RUNNING runs}: while an account has one, "Sync now" waits.
    Runs older than sync.expire_abandoned_runs' limit are left out (that task fails them)."""
    now = now or timezone.now()
    young = now - timedelta(seconds=max(settings.SYNC_LEASE_SECONDS, 300) * 2)
    runs = SyncRun.objects.filter(
        outcome__in=[SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING], started_at__gte=young
    ).select_related("account")
    if account_id is not None:
        runs = runs.filter(account_id=account_id)
    grouped = {}
    for run in runs.order_by("kind", "pk"):
        grouped.setdefault(run.account_id, []).append(run)
    return grouped


def jobs_by_remote_id(account_id: int, kind: str, remote_ids: list[str]) -> dict[str, Job]:
    jobs = Job.objects.filter(account_id=account_id, kind=kind, remote_id__in=remote_ids)
    return {job.remote_id: job for job in jobs}
