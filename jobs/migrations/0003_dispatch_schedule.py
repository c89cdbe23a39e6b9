"""The beat schedule lives in the database (django-celery-beat), visible and editable in the
admin: one PeriodicTask runs the dispatcher every 30 seconds."""

from django.db import migrations

TASK_NAME = "Dispatch due syncs"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "jobs.dispatch_due_syncs",
            "interval": every,
            "enabled": True,
            "description": "Enqueues a sync for each enabled cloud account whose interval has passed.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_sync_queue"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
