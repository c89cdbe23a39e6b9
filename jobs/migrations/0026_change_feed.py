# Issue #14 item 4, "Changed since you last looked": each user's last-seen mark (LastSeen,
# jobs/lastseen_models.py) and the change feed's index over observed state changes (jobs.changes).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0025_saved_views")]

    operations = [
        migrations.CreateModel(
            name="LastSeen",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seen_at", models.DateTimeField(help_text="the mark: changes after it are highlighted")),
                (
                    "visit_at",
                    models.DateTimeField(help_text="the latest visit of the overview, job list or change feed"),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="last_seen",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="jobevent",
            index=models.Index(
                condition=models.Q(("source", "observed")), fields=["occurred_at", "id"], name="jobevent_observed"
            ),
        ),
    ]
