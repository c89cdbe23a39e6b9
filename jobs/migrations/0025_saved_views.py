import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0024_alerts")]

    operations = [
        migrations.CreateModel(
            name="SavedView",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80, verbose_name="name")),
                ("shared", models.BooleanField(default=False, verbose_name="shared with everyone")),
                (
                    "page",
                    models.CharField(
                        choices=[
                            ("job_list", "Jobs"),
                            ("triage", "Failures"),
                            ("rollups", "Batches"),
                            ("stages", "Stages"),
                        ],
                        max_length=16,
                        verbose_name="page",
                    ),
                ),
                ("query", models.CharField(blank=True, max_length=2000, verbose_name="filters")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_views",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="owner",
                    ),
                ),
            ],
            options={
                "verbose_name": "saved view",
                "verbose_name_plural": "saved views",
                "ordering": ["name", "id"],
                "indexes": [
                    models.Index(condition=models.Q(("shared", True)), fields=["name"], name="savedview_shared")
                ],
                "constraints": [models.UniqueConstraint(fields=("owner", "name"), name="savedview_owner_name")],
            },
        ),
    ]
