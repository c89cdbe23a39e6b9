"""The change feed's reads: the state changes the sync observed (JobEvent rows with source
"observed") across every job, newest first in keyset pages, and how many came after a user's
mark (jobs/lastseen_models.py). Both walk the partial index jobevent_observed
(occurred_at, id) WHERE source = 'observed' from one end: a range, at any cache size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db.models import F, Q, QuerySet

from jobs import selectors
from jobs.models import JobEvent
from jobs.selectors import BoundedCount, bounded_count
from jobs.status import unified_status

PAGE_SIZE = 50
# A filtered page reads the changes this many at a time, and at most SCAN_LIMIT of them.
SCAN_CHUNK = 500
SCAN_LIMIT = 5000
# The index's condition as literal SQL: SQLite uses a partial index only for a query whose terms
# imply its condition, and a term with a bound parameter implies nothing (see jobs.stuck).
OBSERVED_SQL = f'"jobs_jobevent"."source" = \'{JobEvent.Source.OBSERVED.value}\''
# What a feed row shows: the event's own columns, and its job's name, kind and account.
FEED_FIELDS = (
    "id", "occurred_at", "from_state", "to_state", "details", "job_id",
    "job__name", "job__remote_id", "job__kind", "job__account__name", "job__account__provider",
)  # fmt: skip
# What the walk reads of each change to test the filters (feed_page).
SCAN_FIELDS = ("id", "occurred_at", "job__kind", "job__account_id", "job__account__provider", "details", "to_state")


def observed() -> QuerySet[JobEvent]:
    return JobEvent.objects.extra(where=[OBSERVED_SQL])  # noqa: S610 - a constant only


@dataclass
class FeedPage:
    rows: list[JobEvent]
    next_cursor: str | None
    scanned: int = 0  # changes read for this page (the filters may have matched fewer)


def _matches(filters: dict[str, Any]):
    """A test of one scanned row (id, occurred_at, kind, account id, provider, details, to_state)
    against the cleaned ChangeFilterForm data, or None when nothing is filtered."""
    wanted = {name: set(filters.get(name) or ()) for name in ("account", "cloud", "kind", "status")}
    if not any(wanted.values()):
        return None

    def test(row) -> bool:
        _pk, _when, kind, account_id, provider, details, to_state = row
        status = (details or {}).get("status") or unified_status(kind, to_state)
        return (
            (not wanted["account"] or account_id in wanted["account"])
            and (not wanted["cloud"] or provider in wanted["cloud"])
            and (not wanted["kind"] or kind in wanted["kind"])
            and (not wanted["status"] or status in wanted["status"])
        )

    return test


def feed_page(filters: dict[str, Any], cursor: tuple[datetime, int] | None = None, size: int = PAGE_SIZE) -> FeedPage:
    """One page of changes, newest first, matching the filters (account, cloud, kind, status:
    the status the job changed to, kept with the event by the sync), and the cursor of the next.

    The walk always runs down jobevent_observed in index order from the cursor, reading each
    change's job by primary key, and the filters are tested in Python. With the job's filters in
    SQL the planners start from the job table instead (all jobs of a kind, then a sort of all
    their events). A filter that matches few changes could make such a walk long, so one page
    reads at most SCAN_LIMIT changes: a page may hold fewer than `size` rows and still have an
    "Older" link that reads on from where it stopped."""
    test = _matches(filters)
    chunk = size + 1 if test is None else SCAN_CHUNK
    found, scanned, position, more = [], 0, cursor, False
    while True:
        qs = observed().order_by(F("occurred_at").desc(), F("id").desc())
        if position:
            when, pk = position
            # The plain range predicate leads so the walk starts at the cursor (as
            # selectors.after_cursor does for the job list).
            qs = qs.filter(occurred_at__lte=when).filter(Q(occurred_at__lt=when) | Q(id__lt=pk))
        batch = list(qs.values_list(*SCAN_FIELDS)[:chunk])
        scanned += len(batch)
        for row in batch:
            if test is None or test(row):
                found.append(row)
                if len(found) > size:
                    break
            position = (row[1], row[0])
        if len(found) > size:
            found, more = found[:size], True
            position = (found[-1][1], found[-1][0])
            break
        if len(batch) < chunk:  # the oldest change read: no older page
            break
        if scanned >= SCAN_LIMIT:  # stop here; "Older" reads on from the last change read
            more = True
            break
    by_id = JobEvent.objects.select_related("job", "job__account").only(*FEED_FIELDS).in_bulk([r[0] for r in found])
    rows = [by_id[r[0]] for r in found if r[0] in by_id]
    for event in rows:
        event.to_status = (event.details or {}).get("status") or unified_status(event.job.kind, event.to_state)
        event.from_status = unified_status(event.job.kind, event.from_state)
    next_cursor = selectors.encode_cursor(position[0], position[1]) if more else None
    return FeedPage(rows, next_cursor, scanned)


def decode_cursor(raw: str) -> tuple[datetime, int]:
    """The (occurred_at, id) an "Older" link carries; selectors.BadCursor for anything else. The
    job list's cursors have the same shape: "created" is one of its sorts on a time."""
    return selectors.decode_cursor(raw, "created")


def count_since(mark: datetime, limit: int = selectors.COUNT_LIMIT) -> BoundedCount:
    """How many changes came after the mark: at most limit+1 entries of the index (the id is in
    it: an index-only scan on PostgreSQL, no table rows)."""
    return bounded_count(observed().filter(occurred_at__gt=mark).values("id"), limit)


class Since:
    """A user's mark for the templates, and the count of changes after it, read only when a
    template shows it (the job list's partials that do not show it skip the count)."""

    def __init__(self, mark: datetime):
        self.mark = mark

    @cached_property
    def count(self) -> BoundedCount:
        return count_since(self.mark)
