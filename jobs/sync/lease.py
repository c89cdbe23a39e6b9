"""The account lease: one sync per account at a time, claimed by a conditional UPDATE with a
TTL, so that a killed worker's lease heals by itself (SYNC_LEASE_SECONDS)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs.models import CloudAccount


def claim_lease(account_id: int, owner: str, ttl: int | None = None) -> bool:
    """Claim the account's sync lease by a conditional UPDATE; an expired lease is free."""
    now = timezone.now()
    ttl = ttl or settings.SYNC_LEASE_SECONDS
    claimed = (
        CloudAccount.objects.filter(pk=account_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + timedelta(seconds=ttl))
    )
    return claimed == 1


def renew_lease(account_id: int, owner: str, ttl: int | None = None) -> bool:
    """Extend the lease if ``owner`` still holds it (False: it lapsed and someone else may hold it)."""
    ttl = ttl or settings.SYNC_LEASE_SECONDS
    until = timezone.now() + timedelta(seconds=ttl)
    return CloudAccount.objects.filter(pk=account_id, lease_owner=owner).update(lease_until=until) == 1


def release_lease(account_id: int, owner: str) -> None:
    """Free the lease if ``owner`` still holds it."""
    CloudAccount.objects.filter(pk=account_id, lease_owner=owner).update(lease_owner="", lease_until=None)
