"""Batch and tag roll-ups and the failure triage totals: written per partition (one account and
kind) after each sync run that changed it, read by the roll-up and triage pages.

Why a summary: at 1,000,000 jobs a GROUP BY over every job of a batch or failure group costs a
second or more per request (bench/views measured the triage page at 1.2-1.6 s); the summary has
a few rows per batch and group, so the pages read hundreds of rows (p95 figures: README).

How it stays right (see jobs.rollup_models): a partition's rows are recomputed from the jobs
table, never patched. Every sync run that wrote anything calls ``refresh_partition`` for its
account and kind (jobs.sync.after), after its writes committed: reads first (no lock held),
then one short transaction that replaces the partition's rows. A job that changes batch, tags,
status or failure group, goes gone or is deleted is therefore counted where it now is at the
next refresh of its partition; deleting an account deletes its rows (CASCADE). The cost of a
refresh is one pass over the partition's live jobs (an index range on
(account, kind, ...)); the sync pays it, not the page.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from jobs import eta
from jobs.models import ACTIVE_STATUSES, WAITING_STATUSES, CloudAccount, Job, Status
from jobs.rollup_models import FailureRollup, Rollup
from jobs.selectors import stuck_limit

log = logging.getLogger(__name__)

UNFINISHED_STATUSES = (*ACTIVE_STATUSES, *WAITING_STATUSES)
# Batch names a failure group keeps per account and kind (the page shows five).
BATCHES_KEPT = 50


@dataclass
class _Acc:
    """One (dimension, name) of a partition while it is being summed."""

    counts: Counter = field(default_factory=Counter)
    first_created: datetime | None = None
    started: datetime | None = None
    last_activity: datetime | None = None
    finished: datetime | None = None
    unfinished: list = field(default_factory=list)  # (vendor state, seconds in it)
    stuck: int = 0

    def add(self, status, n, first, started, last, finished):
        self.counts[status] += n
        self.first_created = _least(self.first_created, first)
        self.started = _least(self.started, started)
        self.last_activity = _most(self.last_activity, last)
        self.finished = _most(self.finished, finished)


def _least(a, b):
    return b if a is None else a if b is None else min(a, b)


def _most(a, b):
    return b if a is None else a if b is None else max(a, b)


def _keys(batch: str, tags_text: str):
    """The (dimension, name) keys a job counts under: its batch, and each of its tags."""
    if batch:
        yield Rollup.Dimension.BATCH, batch
    for tag in dict.fromkeys(tags_text.strip("|").split("|")) if tags_text else ():
        if tag:
            yield Rollup.Dimension.TAG, tag[:255]


def rollup_rows(account_id: int, kind: str, now: datetime) -> list[Rollup]:
    """The Rollup rows of one partition, computed from its live jobs (two queries)."""
    live = Job.objects.filter(account_id=account_id, kind=kind, gone=False)
    accs: dict[tuple[str, str], _Acc] = {}
    grouped = (
        live.exclude(batch="", tags_text="")
        .values_list("batch", "tags_text", "status")
        .annotate(
            n=Count("id"),
            first=Min("created_at"),
            started=Min("started_at"),
            last=Max("updated_at"),
            finished=Max("finished_at"),
        )
        .order_by()
    )
    for batch, tags_text, status, *values in grouped:
        for key in _keys(batch, tags_text):
            accs.setdefault(key, _Acc()).add(status, *values)
    if not accs:
        return []
    unfinished = (
        live.filter(status__in=UNFINISHED_STATUSES)
        .exclude(batch="", tags_text="")
        .values_list("batch", "tags_text", "state", "status", "state_changed_at")
    )
    limits = {}
    for batch, tags_text, state, status, since in unfinished.iterator(chunk_size=5000):
        age = max((now - since).total_seconds(), 0.0)
        if state not in limits:
            limit = stuck_limit(kind, state)
            limits[state] = limit.total_seconds() if limit else None
        stuck = status in ACTIVE_STATUSES and limits[state] is not None and age > limits[state]
        for key in _keys(batch, tags_text):
            acc = accs[key]
            acc.unfinished.append((state, age))
            acc.stuck += stuck
    model = eta.current_model()
    rows = []
    for (dimension, name), acc in accs.items():
        open_jobs = sum(acc.counts[s] for s in UNFINISHED_STATUSES)
        rows.append(
            Rollup(
                dimension=dimension,
                name=name,
                account_id=account_id,
                kind=kind,
                counts=dict(sorted(acc.counts.items())),
                total=sum(acc.counts.values()),
                unfinished=open_jobs,
                stuck=acc.stuck,
                first_created=acc.first_created,
                started=acc.started,
                last_activity=acc.last_activity,
                finished=None if open_jobs else acc.finished,
                eta=eta.batch_remaining(kind, acc.unfinished, model=model) if acc.unfinished else [],
                computed_at=now,
            )
        )
    return rows


def failure_rows(account_id: int, kind: str, now: datetime) -> list[FailureRollup]:
    """The FailureRollup rows of one partition: its failed jobs per triage group (two queries)."""
    failed = Job.objects.filter(account_id=account_id, kind=kind, gone=False, status=Status.FAILED).exclude(
        failure_group=""
    )
    rows = {
        group: FailureRollup(
            failure_group=group,
            account_id=account_id,
            kind=kind,
            jobs=n,
            first_at=first,
            last_at=last,
            code=code or "",
            sample=sample or "",
            computed_at=now,
        )
        for group, n, first, last, code, sample in failed.values_list("failure_group")
        .annotate(
            n=Count("id"),
            first=Min("state_changed_at"),
            last=Max("state_changed_at"),
            code=Max("error_code"),
            sample=Max("error_message"),
        )
        .order_by()
    }
    if rows:
        pairs = failed.exclude(batch="").values_list("failure_group", "batch").distinct().order_by("failure_group")
        for group, batch in pairs:
            row = rows[group]
            row.batch_count += 1
            if len(row.batches) < BATCHES_KEPT:
                row.batches.append(batch)
        for row in rows.values():
            row.batches.sort()
    return list(rows.values())


def refresh_partition(account_id: int, kind: str, now: datetime | None = None) -> tuple[int, int]:
    """Recompute the roll-ups and failure totals of one account and kind; returns how many rows
    of each it now has. Call it outside any transaction that wrote jobs (it must see them)."""
    now = now or timezone.now()
    rollups = rollup_rows(account_id, kind, now)
    failures = failure_rows(account_id, kind, now)
    for attempt in range(2):
        try:
            with transaction.atomic():
                # The account row lock orders two refreshes of one partition (a sync and
                # `rebuildrollups`); on SQLite the write lock already does.
                CloudAccount.objects.select_for_update().filter(pk=account_id).exists()
                Rollup.objects.filter(account_id=account_id, kind=kind).delete()
                FailureRollup.objects.filter(account_id=account_id, kind=kind).delete()
                Rollup.objects.bulk_create(rollups, batch_size=500)
                FailureRollup.objects.bulk_create(failures, batch_size=500)
            break
        except IntegrityError:
            if attempt:  # the account was deleted meanwhile (its rows went with it)
                return 0, 0
            log.info("roll-up refresh of %s/%s raced another; retrying", account_id, kind)
    return len(rollups), len(failures)


def refresh_all(now: datetime | None = None) -> int:
    """Every partition that has jobs or rows (``rebuildrollups``); returns how many."""
    partitions = set(Job.objects.values_list("account_id", "kind").distinct().order_by())
    partitions |= set(Rollup.objects.values_list("account_id", "kind").distinct().order_by())
    partitions |= set(FailureRollup.objects.values_list("account_id", "kind").distinct().order_by())
    for account_id, kind in sorted(partitions):
        refresh_partition(account_id, kind, now)
    return len(partitions)
