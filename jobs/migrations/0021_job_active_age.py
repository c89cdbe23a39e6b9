# The overview's stuck ranking reads this partial index (jobs.stuck.stuck_jobs).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0020_stage_stats")]

    operations = [
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("gone", False), ("status__in", ("queued", "reviewing", "running"))),
                fields=["status", "kind", "state_changed_at"],
                name="job_active_age",
            ),
        ),
    ]
