# Written by hand (issue #13, stage analytics): the stretch table and its per-day summary
# (jobs.stage_models), and the stretches of the jobs cached before this migration, computed
# from their stored events by the code the rebuildstages command runs (jobs.stages.rebuild).

from types import SimpleNamespace

import django.db.models.deletion
from django.db import migrations, models

from jobs.stages import rebuild


def backfill(apps, schema_editor):
    names = ("CloudAccount", "Job", "JobEvent", "JobStage", "StageDay", "StageWeek", "StageNow")
    rebuild(m=SimpleNamespace(**{name: apps.get_model("jobs", name) for name in names}))


class Migration(migrations.Migration):
    dependencies = [("jobs", "0019_eta_model")]

    operations = [
        migrations.CreateModel(
            name="JobStage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=20)),
                ("state", models.CharField(max_length=64)),
                ("entered_at", models.DateTimeField()),
                ("left_at", models.DateTimeField(blank=True, null=True)),
                ("seconds", models.FloatField(blank=True, null=True)),
                (
                    "end",
                    models.CharField(
                        choices=[("left", "left"), ("open", "open"), ("final", "final"), ("lost", "lost")],
                        max_length=5,
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="jobs.cloudaccount",
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="stages", to="jobs.job"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["account", "kind", "state", "entered_at"], name="jobstage_entries"),
                    models.Index(
                        condition=models.Q(("left_at__isnull", False)),
                        fields=["account", "kind", "state", "left_at"],
                        name="jobstage_exits",
                    ),
                    models.Index(
                        condition=models.Q(("end", "open")),
                        fields=["account", "kind", "state", "entered_at"],
                        name="jobstage_open",
                    ),
                    models.Index(condition=models.Q(("end", "left")), fields=["left_at"], name="jobstage_left"),
                ],
            },
        ),
        migrations.CreateModel(
            name="StageDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=20)),
                ("state", models.CharField(max_length=64)),
                ("day", models.DateField()),
                ("entries", models.PositiveIntegerField(default=0)),
                ("exits", models.PositiveIntegerField(default=0)),
                ("lost", models.PositiveIntegerField(default=0)),
                ("finishes", models.PositiveIntegerField(default=0)),
                ("hist", models.JSONField(blank=True, default=list)),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="jobs.cloudaccount",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("day", "account", "kind", "state"), name="stageday_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="StageWeek",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=20)),
                ("state", models.CharField(max_length=64)),
                ("week", models.DateField()),
                ("exits", models.PositiveIntegerField(default=0)),
                ("hist", models.JSONField(blank=True, default=list)),
                ("counts", models.JSONField(blank=True, default=list)),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="jobs.cloudaccount",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("week", "account", "kind", "state"), name="stageweek_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="StageNow",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=20)),
                ("state", models.CharField(max_length=64)),
                ("jobs", models.PositiveIntegerField(default=0)),
                ("oldest", models.DateTimeField()),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="jobs.cloudaccount",
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("account", "kind", "state"), name="stagenow_key")],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
