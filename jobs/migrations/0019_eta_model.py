# Written by hand (issue #13, the ETA): the stored ETA model, one row per job kind.

from django.db import migrations, models
import django.utils.timezone


class Migration(migrations.Migration):
    dependencies = [("jobs", "0018_rollups")]

    operations = [
        migrations.CreateModel(
            name="EtaModel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=20, unique=True)),
                ("built_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("build_id", models.CharField(max_length=32)),
                ("version", models.PositiveSmallIntegerField(default=1)),
                ("jobs_read", models.PositiveIntegerField(default=0)),
                ("data", models.JSONField(default=dict)),
            ],
        ),
    ]
