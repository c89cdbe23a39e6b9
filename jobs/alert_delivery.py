"""Sending the alert outbox (jobs.alert_models.AlertDelivery) through apprise.

Each pass takes the due deliveries, claims them (a conditional update that moves their next
attempt on by CLAIM_SECONDS, so a second worker running the same pass skips them, and a worker
that dies mid-send leaves them to be retried after the claim lapses), and sends ONE message per
channel: the alert itself, or a digest of all of them when a sync opened or resolved several.
A message that went out marks its deliveries sent; one that failed is retried with backoff
(BACKOFF) until MAX_ATTEMPTS, then marked failed with the reason. Nothing is lost while a
channel is down: its deliveries wait in the table.

Secrets: the channel's URL is decrypted only to hand to apprise; a failure's reason is apprise's
own log lines with the URL and its parts removed."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import apprise
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from jobs.alert_models import AlertChannel, AlertDelivery

log = logging.getLogger(__name__)

# Seconds to wait before the 2nd, 3rd... attempt; the last value repeats.
BACKOFF = (15, 30, 60, 120, 300, 600, 1200, 1800)
MAX_ATTEMPTS = 12  # about three hours of retries
CLAIM_SECONDS = 120
DIGEST_LINES = 50  # alerts listed in a digest message (the rest are counted)


def _base_url() -> str:
    return settings.ALERT_SITE_URL.rstrip("/")


def message(deliveries: list[AlertDelivery]) -> tuple[str, str]:
    """(title, body) of one channel's message for ``deliveries``."""
    base = _base_url()

    def line(d: AlertDelivery) -> str:
        a = d.alert
        mark = "RESOLVED" if d.event == AlertDelivery.Event.RESOLVED else "FIRING"
        link = f" {base}{a.link}" if a.link else ""
        return f"[{mark}] {a.title} — {a.detail}{link}"

    if len(deliveries) == 1:
        d = deliveries[0]
        a = d.alert
        prefix = "Resolved: " if d.event == AlertDelivery.Event.RESOLVED else ""
        body = "\n".join(p for p in (a.detail, f"{base}{a.link}" if a.link else "", f"Rule: {a.rule.name}") if p)
        return f"{prefix}{a.title}", body
    fired = sum(d.event == AlertDelivery.Event.FIRED for d in deliveries)
    resolved = len(deliveries) - fired
    title = f"Training Ops: {fired} alert(s) firing, {resolved} resolved"
    lines = [line(d) for d in deliveries[:DIGEST_LINES]]
    if len(deliveries) > DIGEST_LINES:
        lines.append(f"… and {len(deliveries) - DIGEST_LINES} more: {base}/alerts/")
    return title, "\n".join(lines)


def send(channel: AlertChannel, title: str, body: str) -> str:
    """Send one message; '' when it went out, else the reason (no secret in it)."""
    url = channel.get_url()
    if not url:
        return "the channel has no URL"
    client = apprise.Apprise()
    with apprise.LogCapture(level=logging.WARNING) as captured:
        if not client.add(url):
            return f"apprise does not understand the channel's URL ({channel.where or 'no scheme'})"
        # The body is plain text: apprise escapes it for services that show HTML (mail).
        ok = client.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        output = captured.getvalue()
    if ok:
        return ""
    return _clean(output, url) or "the service did not accept the message"


def _clean(text: str, url: str) -> str:
    """apprise's log lines without the URL or any of its parts that may be secret."""
    secrets = {url}
    try:
        parts = urlsplit(url)
        secrets.update(p for p in (parts.password, parts.username, parts.path.strip("/"), parts.query) if p)
        secrets.update(seg for seg in parts.path.split("/") if len(seg) >= 6)
    except ValueError:
        pass
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines)[-480:]


def anything_due(now: datetime | None = None) -> bool:
    """Whether a delivery waits to be sent (one row of the partial index alertdelivery_due)."""
    now = now or timezone.now()
    return AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now).exists()


def send_due(now: datetime | None = None) -> tuple[int, int]:
    """One pass over the due deliveries: returns (messages sent, messages failed)."""
    now = now or timezone.now()
    due = list(
        AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:1000]
    )
    if not due:
        return 0, 0
    # Claim them: a concurrent pass finds them no longer due.
    AlertDelivery.objects.filter(pk__in=due, status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)
    )
    claimed = AlertDelivery.objects.filter(
        pk__in=due, status=AlertDelivery.Status.PENDING, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)
    ).select_related("alert", "alert__rule", "channel")
    per_channel: dict[int, list[AlertDelivery]] = defaultdict(list)
    for d in claimed.order_by("created_at", "id"):
        per_channel[d.channel_id].append(d)
    sent = failed = 0
    for deliveries in per_channel.values():
        channel = deliveries[0].channel
        ids = [d.pk for d in deliveries]
        if not channel.enabled:
            AlertDelivery.objects.filter(pk__in=ids).update(status=AlertDelivery.Status.SKIPPED)
            continue
        title, body = message(deliveries)
        try:
            reason = send(channel, title, body)
        except Exception as exc:  # a library error must not stop the other channels
            reason = f"{type(exc).__name__}"
            log.exception("alert channel %s: sending failed", channel.name)
        done = timezone.now()
        if not reason:
            AlertDelivery.objects.filter(pk__in=ids).update(
                status=AlertDelivery.Status.SENT, sent_at=done, attempts=F("attempts") + 1, last_error=""
            )
            sent += 1
            continue
        failed += 1
        log.warning("alert channel %s: %d message(s) not delivered: %s", channel.name, len(ids), reason)
        for d in deliveries:
            d.attempts += 1
            if d.attempts >= MAX_ATTEMPTS:
                d.status, wait = AlertDelivery.Status.FAILED, 0
            else:
                wait = BACKOFF[min(d.attempts - 1, len(BACKOFF) - 1)]
            d.next_attempt_at = done + timedelta(seconds=wait)
            d.last_error = reason[:500]
        AlertDelivery.objects.bulk_update(
            deliveries, ["status", "attempts", "next_attempt_at", "last_error"], batch_size=500
        )
    return sent, failed


def send_test(channel: AlertChannel) -> str:
    """The admin's "send test" action: '' when the test message went out, else the reason."""
    return send(
        channel,
        "Training Ops: test message",
        f"This is a test of the alert channel “{channel.name}”. {_base_url()}/alerts/",
    )
