"""Alerts (issue #14): where they go (AlertChannel), when they fire (AlertRule), what fired
(Alert: one per rule and subject until it resolves) and the outbox of messages to send
(AlertDelivery). Registered through jobs.models; evaluated by jobs.alerts after each sync run,
sent by jobs.alert_delivery from a Celery task.

A channel's apprise URL holds its secret (a webhook token, a mail password): it is stored
encrypted like the cloud credentials (jobs.crypto) and never shown again after entry; pages and
logs show only its scheme and host (``AlertChannel.where``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs import crypto


class AlertChannel(models.Model):
    name = models.CharField(_("name"), max_length=80, unique=True)
    url_encrypted = models.TextField(blank=True, editable=False)
    # The URL's scheme and host, kept in clear to show which service a channel reaches.
    where = models.CharField(_("service"), max_length=200, blank=True, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        app_label = "jobs"
        ordering = ["name"]
        verbose_name = _("alert channel")
        verbose_name_plural = _("alert channels")

    def __str__(self):
        return self.name

    def set_url(self, url: str) -> None:
        url = url.strip()
        self.url_encrypted = crypto.encrypt(url) if url else ""
        self.where = describe(url)

    def get_url(self) -> str:
        return crypto.decrypt(self.url_encrypted) if self.url_encrypted else ""


def describe(url: str) -> str:
    """An apprise URL without its secrets: scheme and host ("json://hooks.example.com")."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return ""
    return f"{parts.scheme}://{host}" if parts.scheme else ""


class AlertRule(models.Model):
    class When(models.TextChoices):
        FAILED = "failed", _("a job failed")
        STUCK = "stuck", _("a job is stuck past its state's limit")
        SPIKE = "spike", _("a failure spike")
        STALE = "stale", _("an account's sync is stale or failing")
        ASSESSMENT = "assessment", _("a voice assessment fails metrics")

    name = models.CharField(_("name"), max_length=80, unique=True)
    when = models.CharField(_("when"), max_length=16, choices=When.choices)
    channels = models.ManyToManyField(AlertChannel, related_name="rules", verbose_name=_("channels"))
    # Scope: empty means every account, kind, batch, tag.
    accounts = models.ManyToManyField(
        "jobs.CloudAccount", blank=True, related_name="+", verbose_name=_("accounts"), help_text=_("None: all.")
    )
    kinds = models.JSONField(_("kinds"), default=list, blank=True, help_text=_("None: all."))
    batch = models.CharField(_("batch"), max_length=255, blank=True)
    tag = models.CharField(_("tag"), max_length=255, blank=True)
    # spike: this many failures of one account and kind within window_minutes;
    # assessment: this many of the six metrics out of range.
    threshold = models.PositiveIntegerField(_("threshold"), default=0, help_text=_("0: the rule's default."))
    window_minutes = models.PositiveIntegerField(_("window (minutes)"), default=0, help_text=_("0: the default."))
    enabled = models.BooleanField(_("enabled"), default=True)
    muted_until = models.DateTimeField(_("muted until"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        app_label = "jobs"
        ordering = ["name"]
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")

    def __str__(self):
        return self.name

    DEFAULTS = {When.SPIKE: (10, 30), When.ASSESSMENT: (3, 0), When.STALE: (0, 60)}

    @property
    def limit(self) -> int:
        return self.threshold or self.DEFAULTS.get(self.when, (1, 0))[0]

    @property
    def minutes(self) -> int:
        return self.window_minutes or self.DEFAULTS.get(self.when, (0, 60))[1]

    def muted(self, now) -> bool:
        return self.muted_until is not None and self.muted_until > now


class Alert(models.Model):
    """One rule's condition on one subject (a job, or an account and kind, or an account), open
    from when it fired until it resolved. At most one open alert per rule and subject."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    key = models.CharField(max_length=120)  # the subject: "job:<id>", "spike:<account>:<kind>", "account:<id>"
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    account = models.ForeignKey("jobs.CloudAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)  # a path of this site
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        app_label = "jobs"
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "key"], condition=models.Q(resolved_at__isnull=True), name="alert_one_open"
            ),
        ]
        indexes = [models.Index(fields=["-opened_at", "-id"], name="alert_recent")]

    def __str__(self):
        return self.title


class AlertDelivery(models.Model):
    """The outbox: one message (an alert firing, or resolving) for one channel. Written in the
    transaction that opened or resolved the alert; sent by jobs.alert_delivery, retried with
    backoff until it goes out or MAX_ATTEMPTS is reached."""

    class Event(models.TextChoices):
        FIRED = "fired", _("fired")
        RESOLVED = "resolved", _("resolved")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")  # gave up after MAX_ATTEMPTS
        SKIPPED = "skipped", _("skipped")  # the rule was muted or the channel disabled

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        app_label = "jobs"
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="alertdelivery_due"),
        ]

    def __str__(self):
        return f"{self.event} {self.alert_id} -> {self.channel_id}: {self.status}"
