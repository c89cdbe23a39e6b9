"""Stage analytics tables (registered through jobs.models; filled by jobs.stages) and the upkeep
of their per-day summary, which lives here because a job's deletion must reach it from wherever
the deletion starts (the admin, a tracked id the vendor never knew).

- ``JobStage``: one row per stretch a job spent in one vendor state, as the job page's timeline
  counts them (jobs.timelines: observed states only). Rewritten for a job whenever its state or
  observed events change (jobs.stages.restage).
- ``StageDay``: per account, kind, state and UTC day, the stretches begun and ended that day and
  a log-bucket histogram of the dwell of those that ended: what the Stages page merges instead
  of reading millions of stretches.
- ``StageWeek``: the same histograms summed per week, for long windows.
- ``StageNow``: per account, kind and state, the jobs in it now and since when the longest one.

A summary row is never patched by deltas: ``refresh_cells`` / ``refresh_now`` recompute the
rows a change touched from JobStage (index ranges on the changed state and days), so a row is
exact as of its last refresh whatever path changed the stretches.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from django.db import models, transaction
from django.db.models import Count, Min, Q
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

# Dwell histogram: bucket b >= 1 holds [2^((b-1)/8), 2^(b/8)) seconds, bucket 0 under a second.
# A percentile is the geometric middle of the bucket its rank falls in: within 4.5 % of the exact
# value. Stored in StageDay.hist as [first bucket, its count, the next bucket's, ...]: a list of
# small ints is what the page parses fastest (a {bucket: [n, sum]} map took 60 ms of a 30-day page
# at 1,000,000 jobs). Changing the buckets needs `manage.py rebuildstages` (tests pin them).
BUCKETS_PER_DOUBLING = 8
HIST_SIZE = 256  # buckets: up to 2^(255/8) s, about 100 years


# Where each bucket b >= 1 starts (2^((b-1)/8) s): a bisection is 3x faster than a logarithm, and
# a page buckets a day's dwells (5,000 at 1,000,000 jobs) for its window's partial first day.
_STARTS = [2 ** (b / BUCKETS_PER_DOUBLING) for b in range(HIST_SIZE - 1)]


def bucket(seconds: float) -> int:
    return bisect.bisect_right(_STARTS, seconds)


def middle(b: int) -> float:
    """The seconds a bucket stands for: its geometric middle."""
    return 0.5 if b <= 0 else 2 ** ((b - 0.5) / BUCKETS_PER_DOUBLING)


def encode(counts: dict[int, int]) -> list[int]:
    """{bucket: n} as stored: [first bucket, its n, the next bucket's n, ..., the last one's]."""
    if not counts:
        return []
    lo, hi = min(counts), max(counts)
    return [lo, *(counts.get(b, 0) for b in range(lo, hi + 1))]


def merge(dense: list[int], stored: list[int]) -> None:
    """Add a stored histogram into ``dense`` (HIST_SIZE counts)."""
    if stored:
        lo, n = stored[0], len(stored) - 1
        dense[lo : lo + n] = map(operator.add, dense[lo : lo + n], stored[1:])


def percentile(dense: list[int], p: float) -> float | None:
    """The nearest-rank p-th percentile (0 < p <= 100) of a dense histogram; None when empty."""
    total = sum(dense)
    if not total:
        return None
    rank, seen = max(1, math.ceil(p / 100 * total)), 0
    for b, n in enumerate(dense):
        seen += n
        if n and seen >= rank:
            return middle(b)
    return None  # not reached


def utc_day(value: datetime) -> date:
    return value.astimezone(UTC).date()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


class JobStage(models.Model):
    """One stretch of one job in one vendor state."""

    class End(models.TextChoices):
        LEFT = "left", "left"  # the job moved on: left_at and seconds are known
        OPEN = "open", "open"  # the job is in it now (unsettled): dwell so far = now - entered_at
        FINAL = "final", "final"  # a settled job's last state: it finished here, no end
        LOST = "lost", "lost"  # the job went gone while in it: left_at = gone_at, dwell unknown

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="stages")
    account = models.ForeignKey("jobs.CloudAccount", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20)
    state = models.CharField(max_length=64)
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)  # LEFT only
    end = models.CharField(max_length=5, choices=End.choices)

    class Meta:
        app_label = "jobs"
        indexes = [
            # refresh_cells: a day's entries and finishes of one account, kind and state.
            models.Index(fields=["account", "kind", "state", "entered_at"], name="jobstage_entries"),
            # refresh_cells: a day's exits (left or lost) of one account, kind and state.
            models.Index(
                fields=["account", "kind", "state", "left_at"],
                condition=models.Q(left_at__isnull=False),
                name="jobstage_exits",
            ),
            # refresh_now: the jobs in a state now, and the longest there.
            models.Index(
                fields=["account", "kind", "state", "entered_at"], condition=models.Q(end="open"), name="jobstage_open"
            ),
            # The Stages page: the exact dwells of a window's first, partial day, from the index
            # alone (5,000 rows at 1,000,000 jobs: no table page read for them).
            models.Index(
                fields=["left_at", "account", "kind", "state", "seconds", "end"],
                condition=models.Q(end="left"),
                name="jobstage_left",
            ),
        ]

    def __str__(self):
        return f"{self.job_id} {self.state} {self.end} @ {self.entered_at:%Y-%m-%d %H:%M}"


class StageDay(models.Model):
    """One account, kind and vendor state on one UTC day."""

    account = models.ForeignKey("jobs.CloudAccount", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20)
    state = models.CharField(max_length=64)
    day = models.DateField()
    entries = models.PositiveIntegerField(default=0)  # stretches begun (left, open or lost later)
    exits = models.PositiveIntegerField(default=0)  # stretches ended with a known dwell
    lost = models.PositiveIntegerField(default=0)  # stretches of jobs that went gone in this state
    finishes = models.PositiveIntegerField(default=0)  # jobs that settled in this state
    hist = models.JSONField(default=list, blank=True)  # the exits' dwells (encode(): [first bucket, n, n, ...])

    class Meta:
        app_label = "jobs"
        constraints = [
            # The refresh's upsert target; its leading day serves the page's window (day >= ...).
            models.UniqueConstraint(fields=["day", "account", "kind", "state"], name="stageday_key"),
        ]

    def __str__(self):
        return f"{self.account_id}/{self.kind}/{self.state} {self.day}"


class StageWeek(models.Model):
    """One account, kind and vendor state over one week (Monday to Sunday, UTC): its days'
    StageDay rows in one, so a 90-day window reads 13 rows per state instead of 91 (bench/views,
    1,000,000 jobs on PostgreSQL: the 90-day page read 4,400 day rows in 49 ms)."""

    account = models.ForeignKey("jobs.CloudAccount", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20)
    state = models.CharField(max_length=64)
    week = models.DateField()  # its Monday
    exits = models.PositiveIntegerField(default=0)
    hist = models.JSONField(default=list, blank=True)  # the week's exits' dwells, as StageDay.hist
    # Monday's to Sunday's entries, then their exits, lost and finishes: 28 numbers (StageDay's).
    counts = models.JSONField(default=list, blank=True)

    class Meta:
        app_label = "jobs"
        constraints = [
            # The refresh's upsert target; its leading week serves the page's window (week >= ...).
            models.UniqueConstraint(fields=["week", "account", "kind", "state"], name="stageweek_key"),
        ]

    def __str__(self):
        return f"{self.account_id}/{self.kind}/{self.state} week of {self.week}"


class StageNow(models.Model):
    """The jobs of one account and kind in one vendor state now (seen entering it)."""

    account = models.ForeignKey("jobs.CloudAccount", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20)
    state = models.CharField(max_length=64)
    jobs = models.PositiveIntegerField(default=0)
    oldest = models.DateTimeField()  # when the longest-waiting of them entered it

    class Meta:
        app_label = "jobs"
        constraints = [models.UniqueConstraint(fields=["account", "kind", "state"], name="stagenow_key")]

    def __str__(self):
        return f"{self.account_id}/{self.kind}/{self.state}: {self.jobs}"


# --- the summary, from stretches -------------------------------------------------------------

# A stretch as the summary reads it: (account_id, kind, state, entered_at, left_at, seconds, end).
STRETCH_FIELDS = ("account_id", "kind", "state", "entered_at", "left_at", "seconds", "end")
DAY_FIELDS = ("entries", "exits", "lost", "finishes")


def summarise(rows: Iterable[tuple]) -> tuple[dict, dict]:
    """({(account, kind, state, day): [entries, exits, lost, finishes, hist]},
    {(account, kind, state): [jobs, oldest]}) of the stretches ``rows``."""
    days: dict = defaultdict(lambda: [0, 0, 0, 0, {}])
    now: dict = {}
    for account, kind, state, entered, left, seconds, end in rows:
        key = (account, kind, state)
        if end == JobStage.End.FINAL:
            days[(*key, utc_day(entered))][3] += 1
            continue
        days[(*key, utc_day(entered))][0] += 1
        if end == JobStage.End.LEFT:
            cell = days[(*key, utc_day(left))]
            cell[1] += 1
            b = bucket(seconds)
            cell[4][b] = cell[4].get(b, 0) + 1
        elif end == JobStage.End.LOST:
            days[(*key, utc_day(left))][2] += 1
        else:
            jobs, oldest = now.get(key, (0, entered))
            now[key] = [jobs + 1, min(oldest, entered)]
    return days, now


def day_rows(model, days: dict) -> list:
    return [
        model(
            account_id=a, kind=k, state=s, day=d, entries=c[0], exits=c[1], lost=c[2], finishes=c[3], hist=encode(c[4])
        )
        for (a, k, s, d), c in days.items()
    ]


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weeks_of(days: dict) -> dict:
    """{(account, kind, state, week): [exits, {bucket: n}, counts]} of summarise()'s days."""
    weeks: dict = {}
    for (a, k, s, d), c in days.items():
        week = weeks.setdefault((a, k, s, monday(d)), [0, {}, [0] * 28])
        week[0] += c[1]
        for b, n in c[4].items():
            week[1][b] = week[1].get(b, 0) + n
        for i in range(4):  # entries, exits, lost, finishes
            week[2][7 * i + d.weekday()] = c[i]
    return weeks


def week_rows(model, weeks: dict) -> list:
    return [
        model(account_id=a, kind=k, state=s, week=w, exits=c[0], hist=encode(c[1]), counts=c[2])
        for (a, k, s, w), c in weeks.items()
    ]


def now_rows(model, now: dict) -> list:
    return [model(account_id=a, kind=k, state=s, jobs=n, oldest=o) for (a, k, s), (n, o) in now.items()]


def cells_of(rows: Iterable[tuple]) -> tuple[set, set]:
    """The (account, kind, state, day) cells and (account, kind, state) keys stretches count in."""
    cells, keys = set(), set()
    for account, kind, state, entered, left, _seconds, _end in rows:
        keys.add((account, kind, state))
        cells.add((account, kind, state, utc_day(entered)))
        if left is not None:
            cells.add((account, kind, state, utc_day(left)))
    return cells, keys


def _day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of neighbours: one range read per run."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][1]).days <= 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def refresh_cells(cells: set) -> None:
    """Recompute the StageDay rows of ``cells`` from JobStage (in the caller's transaction):
    per account, kind, state and run of days, its stretches that began or ended then."""
    by_key = defaultdict(set)
    for a, k, s, d in cells:
        by_key[(a, k, s)].add(d)
    with transaction.atomic():
        for (a, k, s), wanted in by_key.items():
            for first, last in _day_runs(wanted):
                start, end = midnight(first), midnight(last + timedelta(days=1))
                mine = JobStage.objects.filter(account_id=a, kind=k, state=s)
                rows = {}
                for q in (Q(entered_at__gte=start, entered_at__lt=end), Q(left_at__gte=start, left_at__lt=end)):
                    rows.update((pk, row) for pk, *row in mine.filter(q).values_list("id", *STRETCH_FIELDS))
                days, _ = summarise(rows.values())
                fresh = {key: c for key, c in days.items() if first <= key[3] <= last}
                StageDay.objects.filter(account_id=a, kind=k, state=s, day__gte=first, day__lte=last).exclude(
                    day__in=[key[3] for key in fresh]
                ).delete()
                StageDay.objects.bulk_create(
                    day_rows(StageDay, fresh),
                    update_conflicts=True,
                    unique_fields=["day", "account", "kind", "state"],
                    update_fields=[*DAY_FIELDS, "hist"],
                )
                _refresh_weeks(a, k, s, monday(first), monday(last))


def _refresh_weeks(a: int, k: str, s: str, first: date, last: date) -> None:
    """Recompute the StageWeek rows of one account, kind and state from its days' rows, for the
    weeks starting ``first`` to ``last`` (Mondays)."""
    days = {}
    for day, *numbers, hist in StageDay.objects.filter(
        account_id=a, kind=k, state=s, day__gte=first, day__lt=last + timedelta(days=7)
    ).values_list("day", *DAY_FIELDS, "hist"):
        dense = [0] * HIST_SIZE
        merge(dense, hist)
        days[(a, k, s, day)] = [*numbers, {b: n for b, n in enumerate(dense) if n}]
    weeks = weeks_of(days)
    StageWeek.objects.filter(account_id=a, kind=k, state=s, week__gte=first, week__lte=last).exclude(
        week__in=[key[3] for key in weeks]
    ).delete()
    StageWeek.objects.bulk_create(
        week_rows(StageWeek, weeks),
        update_conflicts=True,
        unique_fields=["week", "account", "kind", "state"],
        update_fields=["exits", "hist", "counts"],
    )


def refresh_now(keys: set) -> None:
    """Recompute the StageNow rows of ``keys`` (account, kind, state) from the open stretches."""
    with transaction.atomic():
        for a, k, s in keys:
            open_ = JobStage.objects.filter(end=JobStage.End.OPEN, account_id=a, kind=k, state=s)
            got = open_.aggregate(n=Count("id"), oldest=Min("entered_at"))
            if got["n"]:
                StageNow.objects.update_or_create(
                    account_id=a, kind=k, state=s, defaults={"jobs": got["n"], "oldest": got["oldest"]}
                )
            else:
                StageNow.objects.filter(account_id=a, kind=k, state=s).delete()


# --- a job deleted: its stretches go (CASCADE), the summary rows they counted in are recomputed.
# Not when its account is deleted: every summary row of the account goes with it.


def _by_account(origin) -> bool:
    model = getattr(origin, "model", None) or type(origin)
    return getattr(getattr(model, "_meta", None), "label", "") == "jobs.CloudAccount"


@receiver(pre_delete, sender="jobs.Job", dispatch_uid="stages_remember")
def _remember_stages(sender, instance, origin=None, **kwargs):
    if _by_account(origin):
        return
    rows = JobStage.objects.filter(job_id=instance.pk).values_list(*STRETCH_FIELDS)
    instance._stage_cells = cells_of(rows)


@receiver(post_delete, sender="jobs.Job", dispatch_uid="stages_forget")
def _forget_stages(sender, instance, **kwargs):
    cells, keys = getattr(instance, "_stage_cells", (None, None))
    if cells:
        refresh_cells(cells)
        refresh_now(keys)
