"""Fill the failure reasons and start/finish times that syncs before this one left empty,
from the op-logs already cached (the rule of jobs.sync.reasons, which the detail phase now
applies to every detail it stores)."""

from django.db import migrations
from django.db.models import Q

from jobs.sync.reasons import FAILING_STATES, SETTLED, TIME_KINDS, VENDOR_SOURCES, fill_from_events

# Jobs read, and their events loaded, per step: memory stays flat on a cache of any size.
BATCH = 500
FIELDS = ("id", "kind", "status", "state", "updated_at", "error_code", "error_message", "started_at", "finished_at")


def _candidates(Job):
    no_reason = Q(error_message="", error_code="") & (Q(status="failed") | Q(state__in=FAILING_STATES))
    no_times = Q(kind__in=TIME_KINDS) & (Q(started_at__isnull=True) | Q(finished_at__isnull=True, status__in=SETTLED))
    return Job.objects.filter(no_reason | no_times)


def backfill(apps, schema_editor, batch=BATCH):
    Job = apps.get_model("jobs", "Job")
    JobEvent = apps.get_model("jobs", "JobEvent")
    candidates = _candidates(Job)
    last = 0
    while True:
        jobs = list(candidates.filter(pk__gt=last).order_by("pk").only(*FIELDS)[:batch])
        if not jobs:
            return
        last = jobs[-1].pk
        events: dict[int, list] = {}
        for ev in JobEvent.objects.filter(job_id__in=[j.pk for j in jobs], source__in=VENDOR_SOURCES).only(
            "job_id", "occurred_at", "source", "action", "message", "details"
        ):
            events.setdefault(ev.job_id, []).append(ev)
        changed, fields = [], set()
        for job in jobs:
            # The vendor's own values are the job's: only empty fields get derived ones.
            updates = fill_from_events(job, job, job.kind, job.status, job.state, events.get(job.pk, ()))
            for name, value in updates.items():
                setattr(job, name, value)
            if updates:
                changed.append(job)
                fields.update(updates)
        if changed:
            Job.objects.bulk_update(changed, sorted(fields))


class Migration(migrations.Migration):
    dependencies = [("jobs", "0015_list_sort")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
