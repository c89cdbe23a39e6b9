"""Storing what a sync learnt besides the job rows: vendor events and assessments."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from jobs.models import Assessment, AssessmentMetric, JobEvent
from jobs.providers.base import AssessmentRecord, EventRecord
from jobs.sync.fingerprints import assessment_fingerprint, event_key
from jobs.sync.rows import cut


def store_events(job_id: int, events: Iterable[EventRecord]) -> int:
    """Insert the vendor events not stored yet (natural key); returns how many were new."""
    rows = {}
    for ev in events:
        key = event_key(ev.source, ev.occurred_at, ev.action, ev.operator, ev.message, ev.details)
        rows[key] = JobEvent(
            job_id=job_id,
            occurred_at=ev.occurred_at,
            source=ev.source,
            action=cut(ev.action, 128),
            operator=cut(ev.operator, 32),
            message=ev.message or "",
            details=ev.details or {},
            key=key,
        )
    if not rows:
        return 0
    known = set(JobEvent.objects.filter(job_id=job_id, key__in=list(rows)).values_list("key", flat=True))
    new = [row for key, row in rows.items() if key not in known]
    JobEvent.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def store_assessments(items: list[tuple[int, AssessmentRecord]]) -> int:
    """Create or replace assessments (with their metrics) whose content changed."""
    if not items:
        return 0
    by_job = dict(items)
    prints = {job_id: assessment_fingerprint(a) for job_id, a in by_job.items()}
    existing = dict(Assessment.objects.filter(job_id__in=list(by_job)).values_list("job_id", "fingerprint"))
    changed = [job_id for job_id in by_job if existing.get(job_id) != prints[job_id]]
    if not changed:
        return 0
    now = timezone.now()
    rows = [
        Assessment(
            job_id=job_id, suggestion=by_job[job_id].suggestion or "", fingerprint=prints[job_id], updated_at=now
        )
        for job_id in changed
    ]
    Assessment.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["job"], update_fields=["suggestion", "fingerprint", "updated_at"]
    )
    ids = dict(Assessment.objects.filter(job_id__in=changed).values_list("job_id", "id"))
    AssessmentMetric.objects.filter(assessment_id__in=list(ids.values())).delete()
    metrics = []
    for job_id in changed:
        seen = set()
        for position, m in enumerate(by_job[job_id].metrics):
            if m.metric in seen:
                continue
            seen.add(m.metric)
            metrics.append(
                AssessmentMetric(
                    assessment_id=ids[job_id],
                    metric=cut(m.metric, 16),
                    position=position,
                    expected=cut(m.expected, 255),
                    actual=cut(m.actual, 255),
                    status=m.status,
                    suggestion=m.suggestion or "",
                    suggestion_en=m.suggestion_en or "",
                )
            )
    AssessmentMetric.objects.bulk_create(metrics)
    return len(changed)
