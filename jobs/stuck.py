"""The overview's stuck card: the most overdue stuck jobs and how many are stuck, read from
the partial index job_active_age (per status, kind and state, the oldest change first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, Job, Status
from jobs.selectors import BoundedCount, bounded_count, stuck_limit, stuck_q
from jobs.status import TABLES, moving_states, unified_status

# Stuck jobs the vendor says are running (a worker on them) come before those waiting in a
# queue or a review, often on a person (voice drafts sit in CREATING for weeks); then by how far
# past its state's limit a job is (time in state / limit).
STUCK_RANK = {Status.RUNNING: 0, Status.REVIEWING: 1, Status.QUEUED: 1}
# The condition of the partial index job_active_age, as literal SQL (the statuses are constants).
ACTIVE_SQL = "{} IN ({})".format('"jobs_job"."status"', ", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES))


@dataclass
class StuckJobs:
    jobs: list[Job]  # the most overdue first, each with .limit and .overdue (a ratio)
    total: BoundedCount


def _moving_states():
    """(kind, vendor state) of every state whose status is moving (queued, reviewing, running)."""
    return [(kind, state) for kind in TABLES for state in moving_states(kind)]


# Stand-ins compiled into the walk's statement, replaced by each state's values (_walk_sql).
_MARKS = {"status": "\x00status", "kind": "\x00kind", "state": "\x00state"}
_CUTOFF = datetime(2000, 1, 1, 0, 0, 1, 1, tzinfo=UTC)


def _walk_sql(limit: int) -> tuple[str, list[str]]:
    """One state's walk as SQL, and which value each of its parameters takes."""
    active = Job.objects.filter(gone=False).extra(where=[ACTIVE_SQL])  # noqa: S610 - constants only
    qs = active.filter(
        status=_MARKS["status"], kind=_MARKS["kind"], state=_MARKS["state"], state_changed_at__lt=_CUTOFF
    )
    sql, params = qs.order_by("state_changed_at", "id").values_list("id")[:limit].query.sql_with_params()
    names = {value: name for name, value in _MARKS.items()}
    names[connection.ops.adapt_datetimefield_value(_CUTOFF)] = "cutoff"
    return sql, [names[p] for p in params]


def stuck_jobs(limit: int = 10, now: datetime | None = None) -> StuckJobs:
    """The most overdue stuck jobs, ranked by STUCK_RANK, and how many are stuck. Within one
    kind and state the oldest change is the most overdue: one query each walks the index from
    the oldest; the best of those are the best overall."""
    now = now or timezone.now()
    # One query per vendor state of a moving status, each an exact range of the partial index
    # job_active_age (status, kind, state, state_changed_at) from the oldest change, at most
    # `limit` rows. A kind's "*" rule stands for its states that have no rule of their own; the
    # states are those the status tables know (a job whose state they do not know is
    # "unknown", never moving). The index's condition is repeated as literal SQL: SQLite uses a
    # partial index only for a query whose terms imply its condition, and a term with a bound
    # parameter implies nothing (with parameters the queries took 0.5 s at 300,000 jobs).
    sql, marks = _walk_sql(limit)
    adapt = connection.ops.adapt_datetimefield_value
    parts, params = [], []
    for kind, state in _moving_states():
        limit_for = stuck_limit(kind, state)
        if limit_for is None:
            continue
        values = {"status": unified_status(kind, state), "kind": kind, "state": state, "cutoff": adapt(now - limit_for)}
        parts.append(f"SELECT id FROM ({sql}) AS s{len(parts)}")
        params.extend(values[mark] for mark in marks)
    # The walks as one statement (UNION ALL of the limited ranges), compiled once: as 50 ORM
    # queries they cost 50 ms of Python at any cache size. Then the found jobs in one query.
    ids = []
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            ids = [pk for (pk,) in cursor.fetchall()]
    found = {job.pk: job for job in Job.objects.filter(pk__in=ids).select_related("account")}
    stuck = Job.objects.filter(gone=False).filter(stuck_q(now))
    for job in found.values():
        job.limit = stuck_limit(job.kind, job.state)
        job.overdue = (now - job.state_changed_at) / job.limit
    ranked = sorted(found.values(), key=lambda j: (STUCK_RANK[j.status], -j.overdue, j.state_changed_at, j.pk))
    return StuckJobs(jobs=ranked[:limit], total=bounded_count(stuck))
