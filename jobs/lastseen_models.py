"""Each user's last-seen mark: what "changed since your last visit" compares with (registered
through jobs.models; read by jobs.changes and the overview, job list and change feed views).

The rule: every visit of those pages records its time (``visit_at``, written at most once per
VISIT_RESOLUTION, so the overview's polls cost a read, not a write). A visit more than
LAST_SEEN_GAP_MINUTES after the previous one starts a new sitting: the mark (``seen_at``) moves
to that previous visit. So the highlights stay put while you keep looking, and when you come
back you see what changed since you last looked. "Mark all as seen" moves the mark to now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

# visit_at is rewritten only when it is older than this: one UPDATE a minute per user at most.
VISIT_RESOLUTION = timedelta(seconds=60)


def gap() -> timedelta:
    return timedelta(minutes=settings.LAST_SEEN_GAP_MINUTES)


class LastSeen(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="last_seen")
    seen_at = models.DateTimeField(help_text="the mark: changes after it are highlighted")
    visit_at = models.DateTimeField(help_text="the latest visit of the overview, job list or change feed")

    def __str__(self):
        return f"{self.user_id} seen {self.seen_at:%Y-%m-%d %H:%M}"

    @classmethod
    def visit(cls, user, now: datetime | None = None) -> datetime:
        """Record a visit by `user` and return the mark to compare with. One small read; a
        write only when the visit time is older than VISIT_RESOLUTION (or the sitting is new)."""
        now = now or timezone.now()
        row = cls.objects.filter(user_id=user.pk).values_list("seen_at", "visit_at").first()
        if row is None:  # a first visit: nothing has changed "since" yet
            cls.objects.bulk_create([cls(user_id=user.pk, seen_at=now, visit_at=now)], ignore_conflicts=True)
            return now
        seen_at, visit_at = row
        if now - visit_at > gap():
            seen_at = visit_at  # a new sitting: the mark is where the last one ended
        elif now - visit_at < VISIT_RESOLUTION:
            return seen_at
        # Conditional on the visit read: of two requests racing here only one moves the mark.
        cls.objects.filter(user_id=user.pk, visit_at=visit_at).update(seen_at=seen_at, visit_at=now)
        return seen_at

    @classmethod
    def mark_all_seen(cls, user, now: datetime | None = None) -> None:
        now = now or timezone.now()
        cls.objects.update_or_create(user_id=user.pk, defaults={"seen_at": now, "visit_at": now})
