# Alerts (issue #14): channels, rules, alerts and the delivery outbox (jobs.alert_models).

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0023_active_age_by_state"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertChannel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80, unique=True, verbose_name="name")),
                ("url_encrypted", models.TextField(blank=True, editable=False)),
                ("where", models.CharField(blank=True, editable=False, max_length=200, verbose_name="service")),
                ("enabled", models.BooleanField(default=True, verbose_name="enabled")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
            ],
            options={
                "verbose_name": "alert channel",
                "verbose_name_plural": "alert channels",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="AlertRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80, unique=True, verbose_name="name")),
                (
                    "when",
                    models.CharField(
                        choices=[
                            ("failed", "a job failed"),
                            ("stuck", "a job is stuck past its state's limit"),
                            ("spike", "a failure spike"),
                            ("stale", "an account's sync is stale or failing"),
                            ("assessment", "a voice assessment fails metrics"),
                        ],
                        max_length=16,
                        verbose_name="when",
                    ),
                ),
                ("kinds", models.JSONField(blank=True, default=list, help_text="None: all.", verbose_name="kinds")),
                ("batch", models.CharField(blank=True, max_length=255, verbose_name="batch")),
                ("tag", models.CharField(blank=True, max_length=255, verbose_name="tag")),
                (
                    "threshold",
                    models.PositiveIntegerField(
                        default=0, help_text="0: the rule's default.", verbose_name="threshold"
                    ),
                ),
                (
                    "window_minutes",
                    models.PositiveIntegerField(
                        default=0, help_text="0: the default.", verbose_name="window (minutes)"
                    ),
                ),
                ("enabled", models.BooleanField(default=True, verbose_name="enabled")),
                ("muted_until", models.DateTimeField(blank=True, null=True, verbose_name="muted until")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "accounts",
                    models.ManyToManyField(
                        blank=True,
                        help_text="None: all.",
                        related_name="+",
                        to="jobs.cloudaccount",
                        verbose_name="accounts",
                    ),
                ),
                (
                    "channels",
                    models.ManyToManyField(related_name="rules", to="jobs.alertchannel", verbose_name="channels"),
                ),
            ],
            options={
                "verbose_name": "alert rule",
                "verbose_name_plural": "alert rules",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="Alert",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=120)),
                ("title", models.CharField(max_length=300)),
                ("detail", models.TextField(blank=True)),
                ("link", models.CharField(blank=True, max_length=500)),
                ("opened_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                (
                    "account",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="jobs.cloudaccount",
                    ),
                ),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="jobs.job",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="alerts", to="jobs.alertrule"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="AlertDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("event", models.CharField(choices=[("fired", "fired"), ("resolved", "resolved")], max_length=10)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("sent", "sent"),
                            ("failed", "failed"),
                            ("skipped", "skipped"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                (
                    "alert",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="deliveries", to="jobs.alert"
                    ),
                ),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="deliveries", to="jobs.alertchannel"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("status", "pending")), fields=["next_attempt_at"], name="alertdelivery_due"
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(fields=["-opened_at", "-id"], name="alert_recent"),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.UniqueConstraint(
                condition=models.Q(("resolved_at__isnull", True)), fields=("rule", "key"), name="alert_one_open"
            ),
        ),
    ]
