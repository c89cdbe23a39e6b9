from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0014_job_live_status")]

    # The job list's new sorts (issue #12, 18): a keyset page walks each index.
    operations = [
        migrations.AddIndex(
            model_name="job", index=models.Index(fields=["state_changed_at", "id"], name="job_state_age_keyset")
        ),
        migrations.AddIndex(
            model_name="job", index=models.Index(fields=["started_at", "id"], name="job_started_keyset")
        ),
        migrations.AddIndex(
            model_name="job", index=models.Index(fields=["finished_at", "id"], name="job_finished_keyset")
        ),
    ]
