"""The overview's stuck card: the most overdue stuck jobs and how many are stuck, read from
the partial index job_active_age (per status and kind, the oldest change first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs.models import ACTIVE_STATUSES, Job, Status
from jobs.selectors import BoundedCount, bounded_count, stuck_limit, stuck_q
from jobs.status import unified_status

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


def stuck_jobs(limit: int = 10, now: datetime | None = None) -> StuckJobs:
    """The most overdue stuck jobs, ranked by STUCK_RANK, and how many are stuck. Within one
    status and one limit rule the oldest change is the most overdue: one query each walks the
    (status, state_changed_at) index from the oldest; the best of those are the best overall."""
    now = now or timezone.now()
    limits = settings.STUCK_LIMIT_HOURS
    named = {k.partition(":")[0]: [] for k in limits}
    for kind, _, state in (k.partition(":") for k in limits):
        named[kind] += [state] if state != "*" else []
    # One query per status and limit rule, each a range of the partial index job_active_age
    # from the oldest change: at most `limit` entries past the rule's other states each. The
    # index's condition is repeated as literal SQL: SQLite uses a partial index only for a
    # query whose terms imply its condition, and a term with a bound parameter implies nothing
    # (with parameters the 15 queries took 0.5 s at 300,000 jobs; 5 ms with literals).
    active = Job.objects.filter(gone=False).extra(where=[ACTIVE_SQL])  # noqa: S610 - constants only
    found = {}
    for status in ACTIVE_STATUSES:
        for key, hours in limits.items():
            kind, _, state = key.partition(":")
            if state != "*" and unified_status(kind, state) != status:
                continue  # a state of another status: nothing to find, and a long walk to find it
            rule = ~Q(state__in=named[kind]) if state == "*" else Q(state=state)
            cutoff = now - timedelta(hours=hours)
            qs = active.filter(rule, status=status, kind=kind, state_changed_at__lt=cutoff)
            found.update(
                (job.pk, job) for job in qs.select_related("account").order_by("state_changed_at", "id")[:limit]
            )
    stuck = Job.objects.filter(gone=False).filter(stuck_q(now))
    for job in found.values():
        job.limit = stuck_limit(job.kind, job.state)
        job.overdue = (now - job.state_changed_at) / job.limit
    ranked = sorted(found.values(), key=lambda j: (STUCK_RANK[j.status], -j.overdue, j.state_changed_at, j.pk))
    return StuckJobs(jobs=ranked[:limit], total=bounded_count(stuck))
