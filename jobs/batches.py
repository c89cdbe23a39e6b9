"""The roll-up pages' reads: batches and tags from the summary the sync keeps (jobs.rollups),
one line per name across the filtered accounts and kinds, with progress and an ETA."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs import eta, rawrows
from jobs.models import CloudAccount, Kind, Status
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


MERGED_FIELDS = (
    "name",
    "account_id",
    "kind",
    "counts",
    "total",
    "unfinished",
    "stuck",
    "first_created",
    "started",
    "last_activity",
    "finished",
    "computed_at",
    "eta",
)


def merge(rows: QuerySet[Rollup], dimension: str, now: datetime, order: list[str] | None = None) -> list[BatchLine]:
    """Summary rows (one per account and kind) summed per name; the ETA of a name is that of
    the last of its parts to finish (eta.combine), each part moved on by the time since its
    refresh. Read as plain rows (jobs.rawrows): the CSV merges ~2,000 of them, which as model
    instances cost 60 ms; the times are compared as stored and converted once per name."""
    segment_of = {status: key for key, _label, statuses in SEGMENTS for status in statuses}
    account_names = dict(CloudAccount.objects.values_list("pk", "name"))
    out: dict[str, BatchLine] = {}
    times: dict[str, list] = {}  # name -> [first_created, started, last_activity, finished, computed_at]
    parts: dict[str, list] = {}
    for name, account_id, kind, counts, total, unfinished, stuck, *stamps, estimate in rawrows.fetch(
        rows.order_by("name", "account__name", "kind").values_list(*MERGED_FIELDS)
    ):
        b = out.get(name)
        if b is None:
            b = out[name] = BatchLine(dimension=dimension, name=name, now=now)
            times[name] = list(stamps)
        else:
            t = times[name]
            t[0], t[1] = _least(t[0], stamps[0]), _least(t[1], stamps[1])
            t[2], t[3] = _most(t[2], stamps[2]), _most(t[3], stamps[3])
            t[4] = _least(t[4], stamps[4])
        for status, n in rawrows.json_value(counts).items():
            key = segment_of.get(status, "other")
            b.counts[key] = b.counts.get(key, 0) + n
        b.total += total
        b.unfinished += unfinished
        b.stuck += stuck
        account = account_names.get(account_id, "")
        if account not in b.accounts:
            b.accounts.append(account)
        if kind not in b.kinds:
            b.kinds.append(kind)
        estimate = rawrows.json_value(estimate)
        if estimate:
            since = max((now - rawrows.moment(stamps[4])).total_seconds(), 0.0)
            parts.setdefault(name, []).append([max(s - since, 0.0) for s in estimate])
    for name, b in out.items():
        b.first_created, b.started, b.last_activity, b.finished, b.computed_at = map(rawrows.moment, times[name])
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
