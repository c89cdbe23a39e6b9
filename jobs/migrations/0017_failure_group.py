"""Failure triage: each failed job's group (jobs.triage.signature), its index, and the groups
of the failed jobs cached before this (the sync fills it from now on)."""

from django.db import migrations, models

from jobs.triage import signature

# Failed jobs read and written per step: memory stays flat on a cache of any size.
BATCH = 500


def backfill(apps, schema_editor, batch=BATCH):
    Job = apps.get_model("jobs", "Job")
    failed = Job.objects.filter(status="failed").only("id", "kind", "error_code", "error_message", "failure_group")
    last = 0
    while True:
        jobs = list(failed.filter(pk__gt=last).order_by("pk")[:batch])
        if not jobs:
            return
        last = jobs[-1].pk
        changed = []
        for job in jobs:
            group = signature(job.kind, job.error_code, job.error_message)
            if job.failure_group != group:
                job.failure_group = group
                changed.append(job)
        if changed:
            Job.objects.bulk_update(changed, ["failure_group"])


class Migration(migrations.Migration):
    dependencies = [("jobs", "0016_backfill_reasons_and_times")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="failure_group",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("status", "failed")),
                fields=["failure_group", "state_changed_at"],
                name="job_failure_group",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
