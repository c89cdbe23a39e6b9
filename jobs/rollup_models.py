"""Summaries the sync keeps beside the jobs, so that pages over every job read a few hundred rows
instead of a million (models, registered through jobs.models; filled by jobs.rollups).

Each summary is a function of the jobs of ONE account and kind (a "partition"): after a sync run
of that account and kind wrote anything, jobs.rollups.refresh_partition recomputes the
partition's rows from the jobs table in one transaction (delete, insert). A summary row is
therefore never patched by deltas that could drift: it is exact as of its partition's last
refresh, whichever path changed a job (listing, detail fetch, read by id, gone marking), and
`rebuildrollups` recomputes every partition (after a restore or a manual edit of the table).
"""

from django.db import models
from django.utils import timezone


def narrowed(rows: models.QuerySet, filters: dict) -> models.QuerySet:
    """Summary rows (any model here) of the filtered account ids, clouds and kinds, the keys of
    the job list's filters of the same names."""
    if filters.get("account"):
        rows = rows.filter(account__in=filters["account"])
    if filters.get("cloud"):
        rows = rows.filter(account__provider__in=filters["cloud"])
    if filters.get("kind"):
        rows = rows.filter(kind__in=filters["kind"])
    return rows


class Rollup(models.Model):
    """One batch (``batch_name``) or tag of one account and kind: its jobs per unified status,
    stuck jobs, first/last activity and the ETA of its unfinished jobs, as of ``computed_at``."""

    class Dimension(models.TextChoices):
        BATCH = "batch", "batch"
        TAG = "tag", "tag"

    dimension = models.CharField(max_length=8, choices=Dimension.choices)
    name = models.CharField(max_length=255)
    account = models.ForeignKey("jobs.CloudAccount", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20)  # jobs.models.Kind
    counts = models.JSONField(default=dict)  # unified status -> jobs (live jobs only: not gone)
    total = models.PositiveIntegerField(default=0)
    unfinished = models.PositiveIntegerField(default=0)  # queued, reviewing, running, needs action, paused
    stuck = models.PositiveIntegerField(default=0)  # past their state's limit at computed_at
    first_created = models.DateTimeField()  # the earliest job's vendor creation time
    started = models.DateTimeField(null=True, blank=True)  # the earliest start the vendor reported
    last_activity = models.DateTimeField()  # the latest vendor update
    finished = models.DateTimeField(null=True, blank=True)  # the last finish, once nothing is unfinished
    # Seconds from computed_at until the last unfinished job ends, at jobs.eta.QUANTILES ([]: no
    # estimate: nothing unfinished, or no history of the kind yet).
    eta = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "jobs"
        constraints = [
            models.UniqueConstraint(fields=["dimension", "name", "account", "kind"], name="rollup_key"),
        ]
        indexes = [
            # The roll-up page: batches (or tags) with the latest activity first; a batch by name.
            models.Index(fields=["dimension", "-last_activity"], name="rollup_recent"),
            # A partition's refresh replaces its rows.
            models.Index(fields=["account", "kind"], name="rollup_partition"),
        ]

    def __str__(self):
        return f"{self.dimension} {self.name} ({self.account_id}/{self.kind})"


class FailureRollup(models.Model):
    """The failed jobs of one triage group (jobs.triage) in one account and kind, all time:
    how many, first and last failure, a sample reason and the batches hit."""

    failure_group = models.CharField(max_length=255)
    account = models.ForeignKey("jobs.CloudAccount", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20)  # jobs.models.Kind
    jobs = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()  # state_changed_at of the earliest failure
    last_at = models.DateTimeField()
    code = models.CharField(max_length=64, blank=True)
    sample = models.TextField(blank=True)
    batches = models.JSONField(default=list, blank=True)  # up to BATCHES_KEPT names, sorted
    batch_count = models.PositiveIntegerField(default=0)  # distinct batches (all of them)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "jobs"
        constraints = [
            models.UniqueConstraint(fields=["failure_group", "account", "kind"], name="failurerollup_key"),
        ]
        indexes = [models.Index(fields=["account", "kind"], name="failurerollup_partition")]

    def __str__(self):
        return f"{self.failure_group} ({self.account_id}/{self.kind}): {self.jobs}"
