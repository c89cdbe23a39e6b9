"""The Stages page's reads: per kind and vendor state, the p50/p95 time in state over a window,
the jobs in it now; jobs finished per day; jobs in each state at the end of each day.

All of it from the summary jobs.stages keeps (StageDay per UTC day, StageNow), plus, for a
window that starts inside a day, the exact stretches that ended in that day's part of the window
(JobStage through its jobstage_left index): at 1,000,000 jobs a request reads a few thousand
rows, never the jobs or their events. Nothing here writes.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs import rawrows
from jobs.models import SETTLED_STATUSES, CloudAccount, Kind
from jobs.stage_models import (
    DAY_FIELDS,
    HIST_SIZE,
    JobStage,
    StageDay,
    StageNow,
    StageWeek,
    bucket,
    merge,
    midnight,
    percentile,
    utc_day,
)
from jobs.status import TABLES
from jobs.status import unified_status as _unified_status

WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
WINDOW_CHOICES = [("24h", _("24 hours")), ("7d", _("7 days")), ("30d", _("30 days")), ("90d", _("90 days"))]
DEFAULT_WINDOW = "30d"
# The outcomes jobs finished with, in the throughput chart's order (then any other status).
OUTCOMES = [str(s) for s in SETTLED_STATUSES]


@dataclass
class StateStats:
    """One kind and vendor state: its stretches that ended in the window, and the jobs in it now."""

    kind: str
    state: str
    status: str
    left: int = 0  # stretches that ended in the window (with a known dwell)
    p50: timedelta | None = None
    p95: timedelta | None = None
    now: int = 0  # jobs in it now (seen entering it); their dwell so far is in no percentile
    oldest: datetime | None = None
    longest: timedelta | None = None  # the longest of them so far
    hist: list = field(default_factory=lambda: [0] * HIST_SIZE, repr=False)  # exits per dwell bucket


@dataclass
class Levels:
    """Jobs of one kind in one vendor state at the end of each day of the window."""

    kind: str
    state: str
    status: str
    values: list  # one per Report.days
    peak: int = 0


@dataclass
class Report:
    now: datetime
    start: datetime  # the window's start
    days: list  # every UTC day the window touches, oldest first
    stats: list = field(default_factory=list)
    # day -> {(kind, status): jobs that finished that day in a state of that status}
    finished: dict = field(default_factory=dict)
    levels: list = field(default_factory=list)

    def finished_per_day(self) -> list[tuple[date, dict]]:
        """[(day, {status: jobs})] summed over kinds, for the chart."""
        out = []
        for day in self.days:
            per = defaultdict(int)
            for (_kind, status), n in self.finished.get(day, {}).items():
                per[status] += n
            out.append((day, dict(per)))
        return out


@functools.lru_cache(maxsize=4096)
def unified_status(kind: str, state: str) -> str:
    return _unified_status(kind, state)  # an enum's .value costs 3 us: a page asks thousands of times


def account_ids(filters: dict) -> list[int] | None:
    """The accounts the account and cloud filters leave (None: every account)."""
    if not filters.get("account") and not filters.get("cloud"):
        return None
    accounts = CloudAccount.objects.all()
    if filters.get("account"):
        accounts = accounts.filter(pk__in=filters["account"])
    if filters.get("cloud"):
        accounts = accounts.filter(provider__in=filters["cloud"])
    return list(accounts.values_list("pk", flat=True))


def _narrow(qs: QuerySet, accounts: list[int] | None, kinds: list[str] | None) -> QuerySet:
    if accounts is not None:
        qs = qs.filter(account_id__in=accounts)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return qs


def _order(kind: str, state: str) -> tuple:
    """Kinds in their usual order; states in the order of the vendor's table (the life of a job),
    unknown ones last."""
    kinds = [k.value for k in Kind]
    states = list(TABLES.get(kind, {}))
    return (
        kinds.index(kind) if kinds.count(kind) else len(kinds),
        states.index(state) if state in states else len(states),
        state,
    )


def report(accounts: list[int] | None, kinds: list[str] | None, window: timedelta, now: datetime | None = None):
    """The page's three tables for the jobs of ``accounts`` (None: all) and ``kinds`` (empty:
    all) over the ``window`` ending now."""
    now = now or timezone.now()
    start = now - window
    first_day, today = utc_day(start), utc_day(now)
    # Days wholly in the window come from the summary; the first day's part, from its stretches.
    whole_from = first_day if midnight(first_day) == start else first_day + timedelta(days=1)
    rep = Report(
        now=now, start=start, days=[first_day + timedelta(days=i) for i in range((today - first_day).days + 1)]
    )
    stats: dict[tuple, StateStats] = {}

    def stat(kind, state):
        key = (kind, state)
        if key not in stats:
            stats[key] = StateStats(kind, state, unified_status(kind, state))
        return stats[key]

    # day -> (kind, state) -> entries - exits - lost: what the day added to the state's jobs.
    added: dict = defaultdict(lambda: defaultdict(int))

    def count(kind, state, day, entries, exits, lost, finishes):
        if entries or exits or lost:
            added[day][(kind, state)] += entries - exits - lost
        if finishes and day <= today:
            per = rep.finished.setdefault(day, defaultdict(int))
            per[(kind, unified_status(kind, state))] += finishes

    def dwell(kind, state, exits, hist):
        if exits:
            s = stat(kind, state)
            s.left += exits
            merge(s.hist, rawrows.json_value(hist))

    # Whole weeks from StageWeek: their days' counts from the first Monday on or after the first
    # day, their histograms from the first Monday on or after the first whole day; the days
    # before those Mondays from StageDay.
    counts_from, hist_from = _monday_from(first_day), _monday_from(whole_from)
    days = _narrow(StageDay.objects.filter(day__gte=first_day, day__lt=hist_from), accounts, kinds)
    for kind, state, day, *numbers, hist in rawrows.fetch(
        days.values_list("kind", "state", "day", *DAY_FIELDS, "hist")
    ):
        day = rawrows.day(day)
        if day < counts_from:
            count(kind, state, day, *numbers)
        if day >= whole_from:
            dwell(kind, state, numbers[1], hist)
    weeks = _narrow(StageWeek.objects.filter(week__gte=counts_from), accounts, kinds)
    for kind, state, week, exits, hist, counts in rawrows.fetch(
        weeks.values_list("kind", "state", "week", "exits", "hist", "counts")
    ):
        week, counts = rawrows.day(week), rawrows.json_value(counts)
        for i in range(7):
            numbers = counts[i::7]  # entries, exits, lost, finishes
            if any(numbers):
                count(kind, state, week + timedelta(days=i), *numbers)
        if week >= hist_from:
            dwell(kind, state, exits, hist)
    if whole_from != first_day:
        part = JobStage.objects.filter(end=JobStage.End.LEFT, left_at__gte=start, left_at__lt=midnight(whole_from))
        seconds = defaultdict(list)
        for kind, state, value in rawrows.fetch(_narrow(part, accounts, kinds).values_list("kind", "state", "seconds")):
            seconds[(kind, state)].append(value)
        for (kind, state), values in seconds.items():
            s = stat(kind, state)
            s.left += len(values)
            hist = s.hist
            for value in values:
                hist[bucket(value)] += 1
    for kind, state, jobs, oldest in _narrow(StageNow.objects.all(), accounts, kinds).values_list(
        "kind", "state", "jobs", "oldest"
    ):
        s = stat(kind, state)
        s.now += jobs
        s.oldest = min(s.oldest, oldest) if s.oldest else oldest
    for s in stats.values():
        s.p50, s.p95 = (_seconds(percentile(s.hist, p)) for p in (50, 95))
        s.longest = max(now - s.oldest, timedelta(0)) if s.oldest else None
    rep.stats = sorted(stats.values(), key=lambda s: _order(s.kind, s.state))
    rep.levels = _levels(rep, added, {(s.kind, s.state): s.now for s in rep.stats})
    return rep


def _monday_from(day: date) -> date:
    """The first Monday on or after ``day``."""
    return day + timedelta(days=-day.weekday() % 7)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=round(value))


def _levels(rep: Report, added: dict, now_jobs: dict) -> list[Levels]:
    """Jobs in each state at the end of each day, counted back from the jobs in it now: the end
    of day D had now's jobs, less those that entered after D, plus those that left after D."""
    keys = set(now_jobs)
    for per in added.values():
        keys.update(per)
    after = defaultdict(int)  # (kind, state) -> what every day after the current one added
    for day in sorted(d for d in added if d > rep.days[-1]):
        for key, n in added[day].items():
            after[key] += n
    out = []
    for kind, state in sorted(keys, key=lambda k: _order(*k)):
        key, values = (kind, state), []
        level = now_jobs.get((kind, state), 0) - after[(kind, state)]
        for day in reversed(rep.days):
            values.append(max(level, 0))
            level -= added.get(day, {}).get(key, 0)
        values.reverse()
        if any(values):
            out.append(Levels(kind, state, unified_status(kind, state), values, max(values)))
    return out
