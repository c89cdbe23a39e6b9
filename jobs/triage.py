"""Failure triage: which failures are the same failure.

A failed job's group (``Job.failure_group``, filled at sync time by jobs.sync.rows / details) is
its kind and the vendor's error code, else its kind and its reason with the parts that differ
from one job to the next (ids, node numbers, paths, times) folded to placeholders. The
selectors below aggregate failed jobs by that column in SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from jobs import rawrows, selectors
from jobs.models import Job, Kind, Status
from jobs.rollup_models import FailureRollup, narrowed
from jobs.selectors import FIRST_INSTANT, LAST_INSTANT

# Bump when signature() output changes for a stored input: the groups of failed jobs cached
# before no longer match those of new failures until a backfill like 0017 runs again.
SIGNATURE_VERSION = 1
REASON_LENGTH = 200
TREND_DAYS = 14
NAMES_SHOWN = 5
GROUPS_SHOWN = 100

# (pattern, placeholder), applied in this order: a URL or path first (it holds ids and
# numbers of its own), long numbers last (after every rule that needs to see their digits).
_RULES = [
    (re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.I), "<path>"),
    # /data/jobs/123/audio.wav, C:\in\a.wav; a slash-led token of two parts or more.
    (re.compile(r"(?<![\w/.<>])(?:[a-z]:)?[/\\][\w.\-~]+(?:[/\\][\w.\-~]*)+", re.I), "<path>"),
    # audio/001.wav: a relative path that names a file.
    (re.compile(r"\b[\w.\-]+(?:/[\w.\-]+)*/[\w\-]+\.[a-z0-9]{1,5}\b", re.I), "<path>"),
    (re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", re.I), "<id>"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?", re.I),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<n>"),
    # Hex ids: 8+ hex digits with at least one digit and one letter (not a plain word).
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<id>"),
    # Numbers inside identifiers: node-12, worker7, gpu_3, pod.4 (but not "code 137").
    (re.compile(r"(?<=[a-z])\d+|(?<=[a-z][\-_.])\d+", re.I), "<n>"),
    (re.compile(r"\d{4,}"), "<n>"),
]
_SPACE = re.compile(r"\s+")


def normalise(message: str) -> str:
    """A reason with what varies per job folded: "exited with code 137 on node-12" and
    "... on node-7" read the same; standalone short numbers (exit code 137) stay."""
    text = message or ""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return _SPACE.sub(" ", text).strip()[:REASON_LENGTH].rstrip()  # the list filter strips one


def signature(kind: str, error_code: str, error_message: str) -> str:
    """The group a failure belongs to: its kind and the vendor's code when there is one (the
    code names the failure; the message may carry the job's details), else its normalised
    reason."""
    code = (error_code or "").strip()
    if code:
        return f"{kind}|code:{code}"
    return f"{kind}|{normalise(error_message)}"


def group_of(kind: str, status: str, error_code: str, error_message: str) -> str:
    """``Job.failure_group``: a failed job's signature; '' for every other job."""
    return signature(kind, error_code, error_message) if status == Status.FAILED else ""


def split(sig: str) -> tuple[str, str, str]:
    """(kind, code, normalised reason) of a signature."""
    kind, _, rest = sig.partition("|")
    if rest.startswith("code:"):
        return kind, rest[5:], ""
    return kind, "", rest


@dataclass
class FailureGroup:
    signature: str
    kind: str
    code: str
    reason: str
    sample: str
    hour: int
    day: int
    week: int
    total: int
    first_seen: datetime
    last_seen: datetime
    account_count: int
    batch_count: int
    trend: list[int] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    list_url: str = ""  # the job list filtered to exactly these jobs (set by the view)

    @property
    def kind_label(self) -> str:
        return Kind(self.kind).label if self.kind in Kind.values else self.kind

    @property
    def accounts_more(self) -> int:
        return max(self.account_count - len(self.accounts), 0)

    @property
    def batches_more(self) -> int:
        return max(self.batch_count - len(self.batches), 0)

    @property
    def bars(self) -> list[tuple[int, int, int]]:
        """(x, y, height) of the trend's bars in a 0..TREND_DAYS*6 by 0..20 box, a 1-unit
        stub for a day without failures."""
        top = max(self.trend or [0]) or 1
        out = []
        for i, n in enumerate(self.trend):
            h = max(1, round(20 * n / top)) if n else 1
            out.append((i * 6, 20 - h, h))
        return out


def failed_jobs(filters: dict[str, Any] | None = None) -> QuerySet[Job]:
    """Failed jobs still at the vendor, narrowed by account ids, clouds and kinds."""
    f = filters or {}
    narrowed = selectors.filter_jobs({key: f.get(key) for key in ("account", "cloud", "kind")})
    return narrowed.filter(status=Status.FAILED).exclude(failure_group="")


def failure_groups(
    filters: dict[str, Any] | None = None, now: datetime | None = None, limit: int = GROUPS_SHOWN, recent=False
) -> list[FailureGroup]:
    """Failed jobs per group (``state_changed_at`` is when a job failed): counts in the last
    hour, day and week, first and last seen, a daily trend, the accounts and batches hit.
    Most failures in the last day first, then the last week.

    All-time figures (total, first seen, accounts, batches) come from the per-partition summary
    the sync keeps (jobs.rollups); the last TREND_DAYS days are counted live from the jobs (a
    range of the (status, state_changed_at) index), so a failure shows in the windows as soon
    as it is cached. ``recent`` (the overview's card): only groups with a failure in the last
    week, and only that week is read. Three queries."""
    now = now or timezone.now()
    f = filters or {}
    week = now - timedelta(days=7)
    first_day = trend_start(now)
    tz = timezone.get_current_timezone()
    start = week if recent else min(week, datetime.combine(first_day, datetime.min.time(), tz))
    days = [datetime.combine(first_day + timedelta(days=i), datetime.min.time(), tz) for i in range(TREND_DAYS)]
    groups: dict[str, FailureGroup] = {}
    for row in _window_rows(failed_jobs(f), start, now, days):
        g = groups[row["failure_group"]] = _new_group(row["failure_group"], row)
        g.hour, g.day, g.week = row["hour"], row["day_n"], row["week"]
        g.trend = [row[f"d{i}"] for i in range(TREND_DAYS)]
        if recent:
            g.total = row["n"]
            g.first_seen, g.last_seen = row["first"], row["last"]
    names = {a.pk: a.name for a in selectors.accounts()}
    batches: dict[str, set] = {}
    fields = ("failure_group", "account_id", "kind", "code", "sample", "jobs", "first_at", "last_at")
    # Plain rows (jobs.rawrows): ~1,500 summary rows at 1,000,000 jobs, whose per-row field
    # converters cost 15 ms; the two times are converted once per group below.
    spans: dict[str, list] = {}
    for sig, account_id, kind, code, sample, jobs, first_at, last_at, names_, count in rawrows.fetch(
        _summary(f, [*groups] if recent else None).values_list(*fields, "batches", "batch_count")
    ):
        g = groups.get(sig)
        if g is None:
            g = groups[sig] = _new_group(sig, {"kind": kind, "code": code, "sample": sample})
        if not recent:
            g.total += jobs
            span = spans.get(sig)
            if span is None:
                spans[sig] = [first_at, last_at]
            else:
                span[0], span[1] = min(span[0], first_at), max(span[1], last_at)
        g.sample = max(g.sample, sample)
        if account_id in names:
            g.accounts.append(names[account_id])
        seen = batches.setdefault(sig, set())
        seen.update(rawrows.json_value(names_))
        # Exact unless a row kept only some of its names: then at least the largest count.
        g.batch_count = max(len(seen), g.batch_count, count)
    for sig, (first_at, last_at) in spans.items():
        g = groups[sig]
        g.first_seen = min(g.first_seen, rawrows.moment(first_at))
        g.last_seen = max(g.last_seen, rawrows.moment(last_at))
    out = []
    for g in groups.values():
        if recent and not g.week:
            continue
        # A group counted in the windows but not yet in the summary (a sync mid-way): the
        # windows are a lower bound of its total.
        g.total = max(g.total, g.week, sum(g.trend))
        g.accounts = sorted(set(g.accounts))
        g.account_count = len(g.accounts)
        g.accounts = g.accounts[:NAMES_SHOWN]
        g.batches = sorted(batches.get(g.signature, ()))[:NAMES_SHOWN]
        g.batch_count = max(g.batch_count, len(g.batches))
        out.append(g)
    out.sort(key=lambda g: (-g.day, -g.week, -g.last_seen.timestamp(), g.signature))
    return out[:limit]


def _new_group(sig: str, row: dict) -> FailureGroup:
    kind, code, reason = split(sig)
    return FailureGroup(
        signature=sig,
        kind=row["kind"] or kind,
        code=code,
        reason=reason,
        sample=row["sample"] or "",
        hour=0,
        day=0,
        week=0,
        total=0,
        first_seen=LAST_INSTANT,
        last_seen=FIRST_INSTANT,
        account_count=0,
        batch_count=0,
        trend=[0] * TREND_DAYS,
    )


def _window_rows(base: QuerySet[Job], start: datetime, now: datetime, days: list[datetime]) -> QuerySet:
    """Failures since ``start`` per group: the hour, day and week counts, and one count per day
    starting at each of ``days`` (midnights in the user's zone). Conditional counts over plain
    ranges: SQLite runs a Python function per row for a date truncation (3x slower)."""
    hour, day, week = now - timedelta(hours=1), now - timedelta(days=1), now - timedelta(days=7)
    ends = [*days[1:], now + timedelta(microseconds=1)]
    per_day = {
        f"d{i}": Count("id", filter=Q(state_changed_at__gte=lo, state_changed_at__lt=hi))
        for i, (lo, hi) in enumerate(zip(days, ends, strict=True))
    }
    return (
        base.filter(state_changed_at__gte=start, state_changed_at__lte=now)
        .values("failure_group")
        .annotate(
            n=Count("id"),
            hour=Count("id", filter=Q(state_changed_at__gte=hour)),
            day_n=Count("id", filter=Q(state_changed_at__gte=day)),
            week=Count("id", filter=Q(state_changed_at__gte=week)),
            kind=Max("kind"),
            code=Max("error_code"),
            sample=Max("error_message"),
            first=Min("state_changed_at"),
            last=Max("state_changed_at"),
            **per_day,
        )
        .order_by()
    )


def _summary(f: dict[str, Any], signatures: list[str] | None) -> QuerySet[FailureRollup]:
    """The summary rows of the filtered accounts, clouds and kinds (of these groups only)."""
    rows = narrowed(FailureRollup.objects.all(), f)
    if signatures is not None:
        rows = rows.filter(failure_group__in=signatures)
    return rows.order_by("failure_group", "account_id")


def trend_start(now: datetime):
    """The first day of the trend (today and the TREND_DAYS - 1 before, in the user's zone)."""
    return timezone.localtime(now).date() - timedelta(days=TREND_DAYS - 1)


def top_failure_groups(limit: int = 5, now: datetime | None = None) -> list[FailureGroup]:
    """The overview card: the groups with most failures in the last day, then the week (only
    groups that failed in the last week)."""
    return failure_groups({}, now=now, limit=limit, recent=True)
