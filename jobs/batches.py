"""The roll-up pages' reads: batches and tags from the summary the sync keeps (jobs.rollups),
one line per name across the filtered accounts and kinds, with progress and an ETA."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs import eta
from jobs.models import Kind, Status
from jobs.rollup_models import Rollup, narrowed

PER_PAGE = 50
CSV_LIMIT = 10_000

# The progress bar's segments, left to right: (key, label, statuses).
SEGMENTS = (
    ("succeeded", _("Succeeded"), (Status.SUCCEEDED,)),
    ("failed", _("Failed"), (Status.FAILED,)),
    ("needs_action", _("Needs action"), (Status.NEEDS_ACTION, Status.PAUSED)),
    ("running", _("Running"), (Status.RUNNING, Status.REVIEWING)),
    ("queued", _("Queued"), (Status.QUEUED,)),
    ("other", _("Cancelled or unknown"), (Status.CANCELLED, Status.UNKNOWN)),
)


def _quantile_index(q: float) -> int:
    return min(range(len(eta.QUANTILES)), key=lambda i: abs(eta.QUANTILES[i] - q))


@dataclass
class Segment:
    key: str
    label: str
    jobs: int
    x: float  # percent of the bar's width
    width: float


@dataclass
class BatchLine:
    """One batch or tag across the filtered accounts and kinds."""

    dimension: str
    name: str
    counts: dict = field(default_factory=dict)  # segment key -> jobs
    total: int = 0
    unfinished: int = 0
    stuck: int = 0
    first_created: datetime | None = None
    started: datetime | None = None
    last_activity: datetime | None = None
    finished: datetime | None = None
    accounts: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    computed_at: datetime | None = None  # the oldest refresh among its rows
    remaining: list = field(default_factory=list)  # seconds from `now` at eta.QUANTILES
    now: datetime | None = None
    list_url: str = ""  # set by the view

    @property
    def segments(self) -> list[Segment]:
        out, x = [], 0.0
        for key, label, _statuses in SEGMENTS:
            n = self.counts.get(key, 0)
            if n:
                width = 100.0 * n / self.total
                out.append(Segment(key, str(label), n, round(x, 3), round(width, 3)))
                x += width
        return out

    @property
    def settled(self) -> int:
        return self.total - self.unfinished

    def eta_at(self, q: float) -> datetime | None:
        if not self.remaining or self.now is None:
            return None
        return self.now + timedelta(seconds=self.remaining[_quantile_index(q)])

    @property
    def eta_p25(self):
        return self.eta_at(0.25)

    @property
    def eta_p50(self):
        return self.eta_at(0.5)

    @property
    def eta_p75(self):
        return self.eta_at(0.75)

    @property
    def kind_labels(self) -> list[str]:
        return [str(Kind(k).label) if k in Kind.values else k for k in self.kinds]


def summary_rows(dimension: str, filters: dict[str, Any]) -> QuerySet[Rollup]:
    rows = narrowed(Rollup.objects.filter(dimension=dimension), filters)
    if filters.get("q"):
        rows = rows.filter(name__icontains=filters["q"])
    return rows


def lines(
    dimension: str, filters: dict[str, Any], page: int = 1, per_page: int = PER_PAGE, now: datetime | None = None
) -> tuple[list[BatchLine], int]:
    """One page of batches (or tags), latest activity first, and how many there are in all.
    Three queries: the names of the page, their count, the page's summary rows."""
    now = now or timezone.now()
    rows = summary_rows(dimension, filters)
    names = rows.values("name").annotate(last=Max("last_activity")).order_by("-last", "name")
    start = (page - 1) * per_page
    page_names = [r["name"] for r in names[start : start + per_page]]
    total = names.count() if len(page_names) == per_page or page > 1 else len(page_names)
    return merge(rows.filter(name__in=page_names), dimension, now, order=page_names), total


def line(dimension: str, name: str, filters: dict[str, Any], now: datetime | None = None) -> BatchLine | None:
    """One batch or tag (the job list's header when it is filtered to exactly one)."""
    found = merge(summary_rows(dimension, filters).filter(name=name), dimension, now or timezone.now())
    return found[0] if found else None


def merge(rows, dimension: str, now: datetime, order: list[str] | None = None) -> list[BatchLine]:
    """Summary rows (one per account and kind) summed per name; the ETA of a name is that of
    the last of its parts to finish (eta.combine), each part moved on by the time since its
    refresh."""
    segment_of = {status: key for key, _label, statuses in SEGMENTS for status in statuses}
    out: dict[str, BatchLine] = {}
    parts: dict[str, list] = {}
    for r in rows.select_related("account").order_by("name", "account__name", "kind"):
        b = out.get(r.name) or BatchLine(dimension=dimension, name=r.name, now=now)
        out[r.name] = b
        for status, n in r.counts.items():
            key = segment_of.get(status, "other")
            b.counts[key] = b.counts.get(key, 0) + n
        b.total += r.total
        b.unfinished += r.unfinished
        b.stuck += r.stuck
        b.first_created = _least(b.first_created, r.first_created)
        b.started = _least(b.started, r.started)
        b.last_activity = _most(b.last_activity, r.last_activity)
        b.finished = _most(b.finished, r.finished)
        b.computed_at = _least(b.computed_at, r.computed_at)
        if r.account.name not in b.accounts:
            b.accounts.append(r.account.name)
        if r.kind not in b.kinds:
            b.kinds.append(r.kind)
        if r.eta:
            since = max((now - r.computed_at).total_seconds(), 0.0)
            parts.setdefault(r.name, []).append([max(s - since, 0.0) for s in r.eta])
    for name, b in out.items():
        if b.unfinished:
            b.finished = None
            if parts.get(name):
                b.remaining = eta.combine(parts[name])
    if order is not None:
        return [out[n] for n in order if n in out]
    return list(out.values())


def _least(a, b):
    return b if a is None else a if b is None else min(a, b)


def _most(a, b):
    return b if a is None else a if b is None else max(a, b)
