"""The cache: accounts, remote jobs, their events and assessments, and sync runs. Every
index names the query that needs it."""

from collections.abc import Iterable

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs import crypto


class Provider(models.TextChoices):
    HUAWEI = "huawei", _("Huawei Cloud MetaStudio")
    TENCENT = "tencent", _("Tencent Cloud CI")


class Kind(models.TextChoices):
    AVATAR_TRAINING = "avatar_training", _("Avatar training")
    VOICE_TRAINING = "voice_training", _("Voice training")
    VOICE_ASSESSMENT = "voice_assessment", _("Voice assessment")
    TRANSLATION = "translation", _("Translation")


PROVIDER_KINDS = {
    Provider.HUAWEI: [Kind.AVATAR_TRAINING, Kind.VOICE_TRAINING, Kind.VOICE_ASSESSMENT],
    Provider.TENCENT: [Kind.TRANSLATION],
}


class Status(models.TextChoices):
    QUEUED = "queued", _("Queued")
    REVIEWING = "reviewing", _("Reviewing")
    RUNNING = "running", _("Running")
    NEEDS_ACTION = "needs_action", _("Needs action")
    PAUSED = "paused", _("Paused")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    UNKNOWN = "unknown", _("Unknown")


# Statuses in which a job is still moving (used for "stuck" and for faster refresh).
ACTIVE_STATUSES = (Status.QUEUED, Status.REVIEWING, Status.RUNNING)
SETTLED_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
# Unsettled, but waiting on a person (an upload, a confirmation, a resume): the vendor does not
# move these by itself, so an incremental refresh lists them only every SYNC_WAITING_INTERVAL.
WAITING_STATUSES = (Status.NEEDS_ACTION, Status.PAUSED)


class CloudAccount(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    region = models.CharField(_("region"), max_length=64)
    endpoint = models.URLField(
        _("endpoint override"),
        blank=True,
        help_text=_("Leave empty for the vendor's public endpoint; set it for fakecloud or a proxy."),
    )
    # Huawei
    project_id = models.CharField(_("project id"), max_length=64, blank=True)
    # Tencent
    bucket = models.CharField(_("bucket (name-APPID)"), max_length=128, blank=True)
    queue_id = models.CharField(_("queue id"), max_length=64, blank=True)
    list_path = models.CharField(
        _("list path"),
        max_length=16,
        blank=True,
        default="/ai_jobs",
        choices=[("/ai_jobs", "/ai_jobs"), ("/jobs", "/jobs")],
    )
    access_key_id = models.CharField(_("access key id"), max_length=128, blank=True)
    # Fernet tokens (jobs.crypto); never rendered back anywhere.
    secret_key_encrypted = models.TextField(blank=True, editable=False)
    # Huawei X-Auth-Token, or a Tencent temporary-credential session token.
    token_encrypted = models.TextField(blank=True, editable=False)
    # Huawei IAM user (token auth without AK/SK): the provider gets a project-scoped token from
    # IAM with these and keeps it here (encrypted) until shortly before it expires.
    iam_domain = models.CharField(_("IAM account (domain) name"), max_length=64, blank=True)
    iam_user = models.CharField(_("IAM user name"), max_length=64, blank=True)
    iam_password_encrypted = models.TextField(blank=True, editable=False)
    iam_endpoint = models.URLField(
        _("IAM endpoint override"),
        blank=True,
        help_text=_(
            "Leave empty for the region's IAM (https://iam.cn-north-4.myhuaweicloud.com for cn-north-4); "
            "set it for fakecloud or a proxy."
        ),
    )
    iam_token_encrypted = models.TextField(blank=True, editable=False)
    iam_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    kinds = models.JSONField(_("job kinds to sync"), default=list, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    sync_interval = models.PositiveIntegerField(_("sync interval (seconds)"), default=settings.SYNC_DEFAULT_INTERVAL)
    active_sync_interval = models.PositiveIntegerField(
        _("sync interval while jobs are in progress (seconds)"),
        default=settings.SYNC_ACTIVE_INTERVAL,
    )
    full_sync_interval = models.PositiveIntegerField(
        _("full listing every (seconds)"),
        default=settings.SYNC_FULL_INTERVAL,
        help_text=_("Other syncs read only jobs that can have changed; only a full listing marks jobs gone."),
    )
    max_rps = models.FloatField(
        _("request budget (requests/s)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1), MaxValueValidator(1000)],
        help_text=_(
            "This account's share of its cloud tenant's request rate, shared with every account on the same "
            "tenant. Empty: half the vendor's documented rate (MetaStudio: 10 in cn-north-4, 5 elsewhere; CI: 5)."
        ),
    )

    # The lease: one sync per account at a time; the token (fencing) grows at every claim or
    # release, and a write under an older one is refused (jobs.sync.lease).
    lease_owner = models.CharField(max_length=64, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_token = models.PositiveBigIntegerField(default=0, editable=False)

    has_active_jobs = models.BooleanField(default=False, editable=False)
    last_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set by the dispatcher when it enqueues a sync, so a queued sync is not enqueued twice.
    sync_enqueued_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("cloud account")
        verbose_name_plural = _("cloud accounts")
        permissions = [("trigger_sync", _("Can trigger syncs and track short jobs"))]

    def __str__(self):
        return self.name

    # Secrets: write-only from the outside; decrypted only when a provider signs a request.
    def set_secret_key(self, value):
        self.secret_key_encrypted = crypto.encrypt(value) if value else ""

    def get_secret_key(self):
        return crypto.decrypt(self.secret_key_encrypted) if self.secret_key_encrypted else ""

    def set_token(self, value):
        self.token_encrypted = crypto.encrypt(value) if value else ""

    def get_token(self):
        return crypto.decrypt(self.token_encrypted) if self.token_encrypted else ""

    def set_iam_password(self, value):
        """A new (or no) password also drops the token fetched with the old one."""
        self.iam_password_encrypted = crypto.encrypt(value) if value else ""
        self.forget_iam_token()

    def forget_iam_token(self):
        """Drop the kept token (saved with the account): the next call fetches a new one."""
        self.iam_token_encrypted = ""
        self.iam_token_expires_at = None

    def get_iam_password(self):
        return crypto.decrypt(self.iam_password_encrypted) if self.iam_password_encrypted else ""

    def get_iam_token(self):
        """(token, expiry) fetched earlier, or ("", None)."""
        if not self.iam_token_encrypted:
            return "", None
        return crypto.decrypt(self.iam_token_encrypted), self.iam_token_expires_at

    def store_iam_token(self, token, expires_at):
        """Keep a fetched token (one UPDATE of these two columns: a sync must not overwrite
        settings someone changed in the admin meanwhile)."""
        self.iam_token_encrypted = crypto.encrypt(token) if token else ""
        self.iam_token_expires_at = expires_at if token else None
        if self.pk:
            type(self).objects.filter(pk=self.pk).update(
                iam_token_encrypted=self.iam_token_encrypted, iam_token_expires_at=self.iam_token_expires_at
            )

    @property
    def has_iam_password(self):
        return bool(self.iam_password_encrypted)

    @property
    def uses_iam(self):
        return bool(self.iam_user and self.iam_password_encrypted)

    @property
    def has_secret_key(self):
        return bool(self.secret_key_encrypted)

    @property
    def has_token(self):
        return bool(self.token_encrypted)

    def sync_kinds(self, asked: Iterable[str] | None = None) -> list[str]:
        """The kinds this account syncs: the chosen ones, else all its provider offers; with
        ``asked``, those of them that were asked for (in the order asked)."""
        offered = [k.value for k in PROVIDER_KINDS.get(self.provider, [])]
        chosen = [k for k in (self.kinds or []) if k in offered] or offered
        return chosen if asked is None else [k for k in asked if k in chosen]


class Job(models.Model):
    # No index of its own: the unique (account, kind, remote_id) leads with it and serves every
    # lookup by account (and the cascade on delete); one index fewer to update per synced job.
    account = models.ForeignKey(CloudAccount, on_delete=models.CASCADE, related_name="jobs", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    remote_id = models.CharField(max_length=128)
    name = models.CharField(max_length=512, blank=True)
    state = models.CharField(max_length=64, blank=True, help_text=_("raw vendor state"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)

    # Remote times, aware UTC. created_at/updated_at are never null (they fall back to the
    # time we first saw the job) because the job list pages on them with a keyset.
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    batch = models.CharField(max_length=255, blank=True)
    tags = models.JSONField(default=list, blank=True)
    # "|tag1|tag2|" so a tag filter is a plain LIKE on every database.
    tags_text = models.CharField(max_length=1024, blank=True)

    # Kind-specific columns used by filters and the detail page.
    edition = models.CharField(max_length=64, blank=True)  # avatar model_version / voice job_type
    language = models.CharField(max_length=64, blank=True)  # voice language / "zh→en" for translation
    linked_job_id = models.CharField(max_length=128, blank=True)  # voice_train_job_id / dhtms_job_id
    asset_id = models.CharField(max_length=128, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # A failed job's triage group (jobs.triage.signature); '' for every other job.
    failure_group = models.CharField(max_length=255, blank=True)

    # The last raw payload, with PII and 24-hour download URLs stripped.
    payload = models.JSONField(default=dict, blank=True)
    # Hash of the normalised record: a resync compares it and writes nothing when equal.
    fingerprint = models.CharField(max_length=40, blank=True)

    first_seen_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)
    state_changed_at = models.DateTimeField(default=timezone.now)
    # New or changed jobs wait here for their detail / op-log fetch (budgeted per sync run).
    needs_detail = models.BooleanField(default=True)
    detail_synced_at = models.DateTimeField(null=True, blank=True)
    gone = models.BooleanField(default=False, help_text=_("vanished from the vendor's list"))
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The upsert's conflict target; also "find a job by its vendor id".
            models.UniqueConstraint(fields=["account", "kind", "remote_id"], name="job_account_kind_remote_id"),
        ]
        indexes = [
            # Job list keysets: by updated (the default order) and by created.
            models.Index(fields=["-updated_at", "-id"], name="job_updated_keyset"),
            models.Index(fields=["-created_at", "-id"], name="job_created_keyset"),
            # Job list filtered by status (chips, overview counts), newest first.
            models.Index(fields=["status", "-updated_at", "-id"], name="job_status_updated"),
            # Job list filtered by kind; overview counts per account and kind.
            models.Index(fields=["kind", "-updated_at", "-id"], name="job_kind_updated"),
            # Job list filtered by account; sync's "jobs of this account and kind" scans.
            models.Index(fields=["account", "kind", "-updated_at"], name="job_account_kind_updated"),
            # Stuck jobs: active status and an old state_changed_at.
            models.Index(fields=["status", "state_changed_at"], name="job_status_state_changed"),
            # Sync's detail queue: new or changed jobs of an account awaiting op-logs/detail.
            models.Index(fields=["account", "kind"], condition=models.Q(needs_detail=True), name="job_needs_detail"),
            # Job list filters by batch and by raw vendor state.
            models.Index(fields=["batch"], name="job_batch"),
            models.Index(fields=["state"], name="job_state"),
            # Job detail: link an avatar job and its voice job. Partial: most jobs have no link,
            # and a full index full of '' convinces planners that the lookup matches everything.
            models.Index(fields=["linked_job_id"], condition=~models.Q(linked_job_id=""), name="job_linked"),
            # Job list sorts by name, time in state, started, finished (keyset on value, id).
            models.Index(fields=["name", "id"], name="job_name_keyset"),
            models.Index(fields=["state_changed_at", "id"], name="job_state_age_keyset"),
            models.Index(fields=["started_at", "id"], name="job_started_keyset"),
            models.Index(fields=["finished_at", "id"], name="job_finished_keyset"),
            # Job list polling: "anything changed since the cursor?" and the cursor itself.
            models.Index(fields=["synced_at"], name="job_synced"),
            # Job list free-text search: a pasted vendor job id, any account or kind.
            models.Index(fields=["remote_id"], name="job_remote_id"),
            # Overview: counts per account, kind and status from the index alone (no table rows).
            models.Index(
                fields=["account", "kind", "status"], condition=models.Q(gone=False), name="job_overview_counts"
            ),
            # The job list's status chips: a bounded count per status from this index alone, in
            # an order only it gives (selectors.status_chips says why).
            models.Index(fields=["status", "first_seen_at"], condition=models.Q(gone=False), name="job_live_status"),
            # The overview's stuck ranking: per status, kind and state, the oldest change first,
            # over jobs still moving only (jobs.stuck.stuck_jobs repeats the condition as literal
            # SQL: SQLite cannot match a partial index to a condition with bound parameters). The
            # state is a key column so that each walk is an exact range: without it PostgreSQL
            # walked (status, state_changed_at) instead, 110 ms for a rule matching nothing.
            models.Index(
                fields=["status", "kind", "state", "state_changed_at"],
                condition=models.Q(status__in=ACTIVE_STATUSES, gone=False),
                name="job_active_age",
            ),
            # Failure triage: failed jobs per group and when they failed; the list's failure filter.
            models.Index(
                fields=["failure_group", "state_changed_at"],
                condition=models.Q(status="failed"),
                name="job_failure_group",
            ),
        ]

    def __str__(self):
        return self.name or self.remote_id


class JobEvent(models.Model):
    class Source(models.TextChoices):
        OPLOG = "oplog", _("Vendor op-log")
        COMMENT = "comment", _("Vendor comment")
        AUDIT = "audit", _("Vendor audit result")
        OBSERVED = "observed", _("Observed state change")

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices)
    action = models.CharField(max_length=128, blank=True)  # op-log action / log_type / comment_type
    operator = models.CharField(max_length=32, blank=True)  # USER / ADMIN / SYSTEM
    from_state = models.CharField(max_length=64, blank=True)
    to_state = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)  # failure / review reason, comment text
    details = models.JSONField(default=dict, blank=True)
    # Natural key (hash of source, time, action, content): re-syncing never duplicates.
    key = models.CharField(max_length=40)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "key"], name="jobevent_job_key"),
        ]
        indexes = [
            # Job detail timeline, in time order (keyset on occurred_at, id).
            models.Index(fields=["job", "occurred_at", "id"], name="jobevent_timeline"),
            # The change feed (jobs.changes): observed state changes of every job, newest first (keyset
            # on occurred_at, id), and the bounded count of those after a user's mark.
            models.Index(fields=["occurred_at", "id"], condition=models.Q(source="observed"), name="jobevent_observed"),
        ]
        ordering = ["occurred_at", "id"]

    def __str__(self):
        return f"{self.job_id} {self.action or self.to_state} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class SyncRun(models.Model):
    class Outcome(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        PARTIAL = "partial", _("Partial")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped (another sync holds the lease)")

    account = models.ForeignKey(CloudAccount, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    trigger = models.CharField(max_length=16, default="schedule")  # schedule / manual / command

    class Mode(models.TextChoices):
        FULL = "full", _("Full listing")  # the only refresh that marks jobs gone
        INCREMENTAL = "incremental", _("Incremental")  # only what can have changed (jobs.sync.incremental)
        # Incremental, and the jobs waiting on a person too (SYNC_WAITING_INTERVAL).
        WAITING = "waiting", _("Incremental + waiting jobs")
        TRACKED = "tracked", _("Tracked jobs")  # short jobs, re-read by id
        REFRESH = "refresh", _("One job")

    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.FULL)
    # Every payload key the listing's jobs had, in the vendor's order (KindSync.as_listed).
    listed_keys = models.JSONField(default=list, blank=True)
    # The listing (full, incremental or waiting) went through, whatever the detail phase did.
    listing_complete = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    pages = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0)  # answers that throttled us (429 or the vendor's code)
    failed_calls = models.PositiveIntegerField(default=0)  # attempts that failed (throttled included)
    remote_total = models.PositiveIntegerField(null=True, blank=True)  # vendor `count`, when given
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    marked_gone = models.PositiveIntegerField(default=0)
    events_created = models.PositiveIntegerField(default=0)
    details_fetched = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        indexes = [
            # Sync page and overview: recent runs per account and kind.
            models.Index(fields=["account", "kind", "-started_at"], name="syncrun_account_kind_recent"),
            # Sync page: all recent runs.
            models.Index(fields=["-started_at"], name="syncrun_recent"),
        ]
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.account} {self.kind} {self.outcome} @ {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration(self):
        if self.finished_at:
            return self.finished_at - self.started_at
        return None


class UserPreference(models.Model):
    """Per-user display settings (time zone; the language lives in the session cookie too)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    time_zone = models.CharField(max_length=64, default="UTC")
    language = models.CharField(max_length=16, blank=True)


from jobs.alert_models import Alert, AlertChannel, AlertDelivery, AlertRule  # noqa: E402, F401
from jobs.assessments import Assessment, AssessmentMetric  # noqa: E402, F401  (Django collects models from here)
from jobs.eta_models import EtaModel  # noqa: E402, F401
from jobs.heartbeat import Heartbeat  # noqa: E402, F401
from jobs.lastseen_models import LastSeen  # noqa: E402, F401
from jobs.rollup_models import FailureRollup, Rollup  # noqa: E402, F401
from jobs.savedview_models import SavedView  # noqa: E402, F401
from jobs.stage_models import JobStage, StageDay, StageNow, StageWeek  # noqa: E402, F401
